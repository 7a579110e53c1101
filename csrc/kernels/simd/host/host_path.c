/* Host fast path (GCC/clang vector extensions). Entries left NULL fall back to the reference.
 * Each matmul lives in its own file in this folder; this file only fills the table. */
#ifdef ODL_WITH_HOST
#include "odl/matmul.h"

const odl_matmul_path odl_path_host = {
    "host",
    0, /* matmul_s8 */
    0, /* matmul_f32 */
    0, /* matmul_f16 */
};
#endif
