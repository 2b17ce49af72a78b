/* pq_lazy.c — loads libpq.so.5 the first time a PostgreSQL connection is opened and resolves
 * the functions ferry calls (pq_lazy.h), so that a run that never touches PostgreSQL does not
 * pay for loading libpq and the libraries it depends on (Kerberos, LDAP, OpenSSL...). */
#define FERRY_PQ_LOADER   /* the PQ... names here are libpq's own, not the table's */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "pq_lazy.h"

ferry_pg__pq_api ferry_pg__pq;

/* The outcome of the one load, written inside pthread_once only. */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_code;
static char load_msg[sizeof(((ferry_err *)0)->msg)];

static void load(void)
{
	/* FERRY_LIBPQ names another file (tests use it to make the load fail). */
	const char *file = getenv("FERRY_LIBPQ");
	if (!file || !*file)
		file = "libpq.so.5";
	/* RTLD_NOW: a missing symbol of libpq's own dependencies fails here, not mid-run. */
	void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *why = dlerror();
		snprintf(load_msg, sizeof(load_msg), "%s", why ? why : "could not load it");
		load_code = FERRY_ERROR;
		return;
	}
	ferry_pg__pq_api api;
	const char *missing = NULL;
	(void)dlerror();
#define FERRY_PQ_RESOLVE(f) \
	if (!missing && !(api.f = (__typeof__(api.f))dlsym(lib, #f))) \
		missing = #f;
	FERRY_PQ_FUNCS(FERRY_PQ_RESOLVE)
#undef FERRY_PQ_RESOLVE
	if (missing) {
		const char *why = dlerror();
		if (why)
			snprintf(load_msg, sizeof(load_msg), "%s", why);
		else
			snprintf(load_msg, sizeof(load_msg), "%s: no function %s", file, missing);
		dlclose(lib);
		load_code = FERRY_ERROR;
		return;
	}
	ferry_pg__pq = api;   /* the library stays loaded for the life of the process */
}

int ferry_pg__pq_load(ferry_err *err)
{
	int rc = pthread_once(&load_once, load);
	if (rc != 0)
		return ferry_err_set(err, FERRY_ERROR, "PostgreSQL support needs libpq.so.5: pthread_once failed (error %d)", rc);
	if (load_code)
		return ferry_err_set(err, load_code, "PostgreSQL support needs libpq.so.5: %s", load_msg);
	return 0;
}
