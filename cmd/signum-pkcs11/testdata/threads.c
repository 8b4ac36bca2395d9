/* threads.c MODULE LABEL THREADS ROUNDS: loads a PKCS#11 module the way multi-threaded
 * applications do (dlopen, C_GetFunctionList, CKF_OS_LOCKING_OK), then THREADS threads, each
 * with its own session, find the private key labelled LABEL and sign ROUNDS SHA-256 digests
 * with CKM_ECDSA. Each signature is printed as "<digest hex> <signature hex>"; a failure as
 * "FAIL <function> <rv>". Exit 0 when every call succeeded. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../p11.h"

static CK_FUNCTION_LIST_PTR p11;
static const char *label;
static int rounds;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
static int failures;

static void fail(const char *fn, CK_RV rv) {
	pthread_mutex_lock(&out);
	printf("FAIL %s 0x%lx\n", fn, rv);
	failures++;
	pthread_mutex_unlock(&out);
}

static void *worker(void *arg) {
	long id = (long)arg;
	CK_SESSION_HANDLE s;
	CK_RV rv = p11->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) { fail("C_OpenSession", rv); return NULL; }
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE key;
	CK_ULONG n = 0;
	if ((rv = p11->C_FindObjectsInit(s, tpl, 2)) != CKR_OK) { fail("C_FindObjectsInit", rv); return NULL; }
	if ((rv = p11->C_FindObjects(s, &key, 1, &n)) != CKR_OK || n != 1) { fail("C_FindObjects", rv); return NULL; }
	p11->C_FindObjectsFinal(s);
	for (int r = 0; r < rounds; r++) {
		CK_BYTE digest[32];
		for (int i = 0; i < 32; i++) digest[i] = (CK_BYTE)(id * 31 + r * 7 + i);
		CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
		if ((rv = p11->C_SignInit(s, &mech, key)) != CKR_OK) { fail("C_SignInit", rv); continue; }
		CK_BYTE sig[132];
		CK_ULONG len = sizeof sig;
		if ((rv = p11->C_Sign(s, digest, sizeof digest, sig, &len)) != CKR_OK) { fail("C_Sign", rv); continue; }
		pthread_mutex_lock(&out);
		for (int i = 0; i < 32; i++) printf("%02x", digest[i]);
		printf(" ");
		for (CK_ULONG i = 0; i < len; i++) printf("%02x", sig[i]);
		printf("\n");
		pthread_mutex_unlock(&out);
	}
	p11->C_CloseSession(s);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 5) { fprintf(stderr, "usage: threads MODULE LABEL THREADS ROUNDS\n"); return 2; }
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	if (!get || get(&p11) != CKR_OK) { fprintf(stderr, "no C_GetFunctionList\n"); return 2; }
	CK_C_INITIALIZE_ARGS args = {0};
	args.flags = CKF_OS_LOCKING_OK;
	CK_RV rv = p11->C_Initialize(&args);
	if (rv != CKR_OK) { fail("C_Initialize", rv); return 1; }
	label = argv[2];
	int threads = atoi(argv[3]);
	rounds = atoi(argv[4]);
	pthread_t t[64];
	for (long i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, worker, (void *)i);
	for (long i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
	if ((rv = p11->C_Finalize(NULL)) != CKR_OK) fail("C_Finalize", rv);
	return failures ? 1 : 0;
}
