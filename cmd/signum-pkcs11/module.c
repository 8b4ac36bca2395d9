#include "p11.h"

extern CK_FUNCTION_LIST signumFunctionList;

/* C_GetFunctionList is what applications look up first (dlsym); every other call goes
 * through the list. */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
	if (ppFunctionList == NULL_PTR) {
		return CKR_ARGUMENTS_BAD;
	}
	*ppFunctionList = &signumFunctionList;
	return CKR_OK;
}
