/* model_service.h - the generated model on the device: registers its tensor table with the protocol handler and
 * answers TRAIN_STEP (0x30), EVAL (0x31) and INFER (0x40). Compiled in when the firmware is built with a model
 * (CMake ODL_MODEL_DIR, which defines ODL_WITH_MODEL); see docs/protocol.md for the payloads. */
#ifndef ODL_MODEL_SERVICE_H
#define ODL_MODEL_SERVICE_H

#include "odl/protocol.h"

/* Firmware-defined message: inference on one sample -> raw logits. */
#define ODL_MSG_INFER 0x40u

/* Signature of the compiled-in model (reported by HELLO). */
uint32_t odl_model_service_signature(void);

/* Register every tensor of the model that has a protocol id (weights, trainable slices, optimizer state, the
 * sample input buffer) and the TRAIN_STEP / EVAL / INFER handlers. Returns ODL_OK or the first failure. */
odl_status odl_model_service_register(odl_device *dev);

#endif /* ODL_MODEL_SERVICE_H */
