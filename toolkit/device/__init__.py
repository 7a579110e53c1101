"""On-device fine-tuning: build firmware with a generated model (``build_for_device``), then train, evaluate and
read back the trained tensors over the serial link (``DeviceSession``), with progress persisted in the build
directory so an interrupted run resumes from the last committed weights (``odl train --resume``)."""

from toolkit.device.build import DeviceBuild, DeviceBuildError, build_for_device, load_build
from toolkit.device.session import DeviceSession, SignatureMismatch, TrainingInterrupted

__all__ = ["DeviceBuild", "DeviceBuildError", "build_for_device", "load_build", "DeviceSession",
           "SignatureMismatch", "TrainingInterrupted"]
