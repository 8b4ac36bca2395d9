/* The platform macros pkcs11.h asks for, as Linux PKCS#11 modules define them (default
 * structure packing, as SoftHSM, OpenSC and p11-kit use on Unix). */
#ifndef SIGNUM_P11_H
#define SIGNUM_P11_H
#define CK_PTR *
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (* name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (* name)
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
#include "include/pkcs11.h"
#endif
