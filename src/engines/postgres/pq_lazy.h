/* pq_lazy.h — libpq loaded on first use: ferry compiles against libpq-fe.h for its types but
 * does not link libpq (nor the twenty libraries it pulls in); the first PostgreSQL connection
 * dlopens libpq.so.5 and fills ferry_pg__pq. The PQ... names below stand for that table's
 * entries, so the engine's files call libpq as usual; a PQ function missing from the table
 * is an undefined reference at link time. Included from pg_int.h only. */
#ifndef FERRY_PQ_LAZY_H
#define FERRY_PQ_LAZY_H

#include <libpq-fe.h>
#include "../../ferry_int.h"

/* Every libpq function ferry calls (keep in step with the #defines below). */
#define FERRY_PQ_FUNCS(X) \
	X(PQcancel) X(PQclear) X(PQcmdStatus) X(PQcmdTuples) X(PQconnectdbParams) X(PQconsumeInput) \
	X(PQconndefaults) X(PQconninfoFree) X(PQconninfoParse) X(PQdb) X(PQflush) \
	X(PQenterPipelineMode) X(PQerrorMessage) X(PQexec) X(PQexecParams) \
	X(PQexitPipelineMode) X(PQfinish) X(PQfreeCancel) X(PQfreemem) X(PQftype) \
	X(PQgetCancel) X(PQgetCopyData) X(PQgetResult) X(PQgetisnull) X(PQgetlength) \
	X(PQgetvalue) X(PQhost) X(PQnfields) X(PQntuples) X(PQpipelineSync) X(PQport) \
	X(PQprepare) X(PQputCopyData) X(PQputCopyEnd) X(PQresultErrorField) \
	X(PQresultErrorMessage) X(PQresultStatus) X(PQsendQueryPrepared) \
	X(PQserverVersion) X(PQsetNoticeProcessor) X(PQsocket) X(PQstatus) X(PQtransactionStatus)

/* Pointers typed from libpq-fe.h's own prototypes, so a call is checked as a direct one. */
typedef struct ferry_pg__pq_api {
#define FERRY_PQ_MEMBER(f) __typeof__(f) *f;
	FERRY_PQ_FUNCS(FERRY_PQ_MEMBER)
#undef FERRY_PQ_MEMBER
} ferry_pg__pq_api;

/* Written once, under pthread_once, by ferry_pg__pq_load; read-only afterwards. */
extern ferry_pg__pq_api ferry_pg__pq;

/* Load libpq (the file named by $FERRY_LIBPQ, else libpq.so.5) and resolve every function
 * above, once per process; later calls return the first outcome. On failure err says
 * "PostgreSQL support needs libpq.so.5: <reason>" and no PQ... name may be used. Thread-safe. */
int ferry_pg__pq_load(ferry_err *err);

#ifndef FERRY_PQ_LOADER
#define PQcancel (ferry_pg__pq.PQcancel)
#define PQclear (ferry_pg__pq.PQclear)
#define PQcmdStatus (ferry_pg__pq.PQcmdStatus)
#define PQcmdTuples (ferry_pg__pq.PQcmdTuples)
#define PQconndefaults (ferry_pg__pq.PQconndefaults)
#define PQconninfoFree (ferry_pg__pq.PQconninfoFree)
#define PQconninfoParse (ferry_pg__pq.PQconninfoParse)
#define PQconnectdbParams (ferry_pg__pq.PQconnectdbParams)
#define PQconsumeInput (ferry_pg__pq.PQconsumeInput)
#define PQdb (ferry_pg__pq.PQdb)
#define PQenterPipelineMode (ferry_pg__pq.PQenterPipelineMode)
#define PQerrorMessage (ferry_pg__pq.PQerrorMessage)
#define PQexec (ferry_pg__pq.PQexec)
#define PQexecParams (ferry_pg__pq.PQexecParams)
#define PQexitPipelineMode (ferry_pg__pq.PQexitPipelineMode)
#define PQflush (ferry_pg__pq.PQflush)
#define PQfinish (ferry_pg__pq.PQfinish)
#define PQfreeCancel (ferry_pg__pq.PQfreeCancel)
#define PQfreemem (ferry_pg__pq.PQfreemem)
#define PQftype (ferry_pg__pq.PQftype)
#define PQgetCancel (ferry_pg__pq.PQgetCancel)
#define PQgetCopyData (ferry_pg__pq.PQgetCopyData)
#define PQgetResult (ferry_pg__pq.PQgetResult)
#define PQgetisnull (ferry_pg__pq.PQgetisnull)
#define PQgetlength (ferry_pg__pq.PQgetlength)
#define PQgetvalue (ferry_pg__pq.PQgetvalue)
#define PQhost (ferry_pg__pq.PQhost)
#define PQnfields (ferry_pg__pq.PQnfields)
#define PQntuples (ferry_pg__pq.PQntuples)
#define PQpipelineSync (ferry_pg__pq.PQpipelineSync)
#define PQport (ferry_pg__pq.PQport)
#define PQprepare (ferry_pg__pq.PQprepare)
#define PQputCopyData (ferry_pg__pq.PQputCopyData)
#define PQputCopyEnd (ferry_pg__pq.PQputCopyEnd)
#define PQresultErrorField (ferry_pg__pq.PQresultErrorField)
#define PQresultErrorMessage (ferry_pg__pq.PQresultErrorMessage)
#define PQresultStatus (ferry_pg__pq.PQresultStatus)
#define PQsendQueryPrepared (ferry_pg__pq.PQsendQueryPrepared)
#define PQserverVersion (ferry_pg__pq.PQserverVersion)
#define PQsetNoticeProcessor (ferry_pg__pq.PQsetNoticeProcessor)
#define PQsocket (ferry_pg__pq.PQsocket)
#define PQstatus (ferry_pg__pq.PQstatus)
#define PQtransactionStatus (ferry_pg__pq.PQtransactionStatus)
#endif

#endif
