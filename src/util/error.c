/* error.c — error messages: on a ferry_err for engine and worker calls, on the handle for
 * the public API, and thread-local for calls without a handle (ferry_error_last). */
#include <string.h>
#include "../ferry_int.h"

static _Thread_local char last_error[1024];

int ferry_err_set(ferry_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* Messages are one line: fold any newline an engine or server put in. */
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	err->code = code;
	return code;
}

int ferry__err_copy(ferry_err *dst, const ferry_err *src)
{
	memcpy(dst, src, sizeof(*dst));
	return dst->code;
}

void ferry__error_set_last(const char *msg)
{
	snprintf(last_error, sizeof(last_error), "%s", msg ? msg : "");
}

const char *ferry_error_last(void)
{
	return last_error;
}

const char *ferry_errmsg(const ferry_ctx *ctx)
{
	return ctx ? ctx->errmsg : last_error;
}

int ferry__ctx_fail(ferry_ctx *ctx, const ferry_err *err)
{
	snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s", err->msg);
	ferry__error_set_last(err->msg);
	return err->code ? err->code : FERRY_ERROR;
}
