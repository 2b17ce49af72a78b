/* canon.h — kept so that tests/unit/test_verify.c, written when the canonical cells lived in
 * src/pipeline, builds unchanged: they are src/verify's now (verify.h). */
#include "../verify/verify.h"
