"""The one boundary where errors become gRPC statuses, for every DistPOS service on the node's server.

A `DistposError` aborts the call with the status its class names (`grpc_status`), the readable log as details
and `distpos-codespace` / `distpos-code` trailing metadata for programs. Anything else is a bug: the trace goes
to the log and the caller gets INTERNAL with no library text. Servicers raise; they never catch to abort.
"""

from __future__ import annotations

import logging

import grpc

from ..errors import DistposError

log = logging.getLogger("distpos.grpc")


def compute_status(err: DistposError) -> grpc.StatusCode:
    """The gRPC status of a DistPOS error (INTERNAL for a name gRPC does not know)."""
    return getattr(grpc.StatusCode, err.grpc_status, grpc.StatusCode.INTERNAL)


async def abort_with(context: grpc.aio.ServicerContext, err: DistposError) -> None:
    """Abort the call with err's status, log and code metadata."""
    context.set_trailing_metadata((("distpos-codespace", err.codespace), ("distpos-code", str(err.code))))
    await context.abort(compute_status(err), err.log)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary method of the server in the DistPOS error mapping."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, handler_call_details.method

        async def behaviour(request, context):
            try:
                return await inner(request, context)
            except DistposError as err:
                await abort_with(context, err)
            except grpc.aio.AbortError:
                raise
            except Exception:  # a bug: log the trace, tell the caller nothing the library said
                log.exception("internal error in %s", method)
                context.set_trailing_metadata((("distpos-codespace", "distpos"), ("distpos-code", "1")))
                await context.abort(grpc.StatusCode.INTERNAL, f"distpos:1: internal error in {method}")

        return handler._replace(unary_unary=behaviour)
