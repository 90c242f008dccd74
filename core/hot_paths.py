"""The storefront's hottest requests, answered without the work every other request pays for.

At a promotion peak nearly every request is one of a few: is this basket available, reserve it.
Through Flask's ordinary dispatch each of them also ran every application-wide hook (the sign-in
throttle's bookkeeping, the CSRF check, the session, the remember-me cookie, the input guard's
walk of the body), webargs' parsing and the full response finalisation: more CPU than the reading
and writing of stock they exist for. A feature registers such a route here with:

- ``load``: the route's input from the body's JSON document (parsed here: None for a GET) and the
  raw query string, checked by the same rules as its schema (usually by the schema itself), or
  None. None sends the request down the ordinary path,
  untouched, and that path answers it exactly as before, including every 4xx it may deserve: only
  requests whose input is plainly good, from an API client (a bearer token and no cookie), are
  answered here;
- ``answer``: the view's own code, run in a request context of its own (so ``request``, ``g``,
  ``url_for``, the caller's language and the database session work as in any view), with the
  route's authorization and idempotency decorators, as on the ordinary path.

What the hooks do for such a request is done here: the request id and metrics
(``core.observability``), the security headers (``core.security``), and the error handling. Only
hooks known to have nothing else to do for it are left out (``covers`` names them: the sign-in
throttle's, CSRF's, the session's remember-me cookie, the input guard's, and the API's token check
that the route's decorator repeats); any other before- or after-request hook of the application or
of the route's blueprints runs as it would. Anything the answer raises (401, 403, 409, 422, or a
fault) goes through Flask's own error handlers and every after-request hook, exactly as the
ordinary path would. With rate limits configured for every request, nothing is answered here;
``HOT_PATHS = False`` sends everything the ordinary way.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, Request, Response, request
from flask.ctx import RequestContext
from flask.sessions import SecureCookieSession
from flask.signals import request_finished, request_started
from werkzeug.datastructures import Headers
from werkzeug.routing import Rule

from core import context, inputs, observability, security

#: A route's input from the body's JSON document (None for a GET) and the raw query string, or
#: None: ordinary path.
Load = Callable[[Any, str], Any]
StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class HotRoute:
    method: str
    #: The path as the client sends it (no variables), below the application's root.
    path: str
    load: Load
    #: The view's code for the loaded input; authorization included.
    answer: Callable[[Any], Response]


_ROUTES = "stockroom.hot_routes"
#: The environ key of a hot request's JSON document, as parsed here: code that needs it (the
#: Idempotency-Key's fingerprint) takes it instead of reading werkzeug's stream and parsing again.
DOCUMENT = "stockroom.document"
_COVERED = "stockroom.hot_paths.covered"
#: Flask-WTF's check, registered as a closure: known by name. API blueprints are exempt from it,
#: and a cookie-less request made with a bearer token is not a browser's.
_CSRF_CHECK = "CSRFProtect.init_app.<locals>.csrf_protect"


def register(app: Flask, routes: Iterable[HotRoute]) -> None:
    """Answer ``routes`` the short way (``init_app`` installs the dispatcher after the features)."""
    known: dict[tuple[str, str], HotRoute] = app.extensions.setdefault(_ROUTES, {})
    for route in routes:
        known[(route.method, route.path)] = route


def covers(app: Flask, *hooks: Callable[..., Any]) -> None:
    """Declare request hooks that have nothing to do for a hot request (a cookie-less API call
    whose route checks the caller itself): the short way leaves them out."""
    app.extensions.setdefault(_COVERED, set()).update(hooks)


def _covered(app: Flask, hook: Callable[..., Any]) -> bool:
    if hook in app.extensions.get(_COVERED, ()):
        return True
    if getattr(hook, "__qualname__", "") == _CSRF_CHECK:
        return True
    # The limiter's own hooks: with no limit on every request (checked before installing), a
    # storefront request has none to count or to report.
    owner = getattr(hook, "__self__", None) or next(iter(getattr(hook, "args", ())), None)
    return owner is security.limiter


def init_app(app: Flask) -> None:
    """Put the dispatcher in front of Flask's, inside any middleware installed later.

    Not when the configuration sets rate limits for every request: counting them is the
    limiter's hook, which only the ordinary path runs.
    """
    app.config.setdefault("HOT_PATHS", True)
    covers(
        app,
        observability.start_request,
        observability.finish_request,
        security.security_headers,
        inputs.guard_request,
    )
    routes = app.extensions.get(_ROUTES)
    if routes and app.config["HOT_PATHS"] and not security.limits_every_request(app):
        app.wsgi_app = HotPaths(app, routes, app.wsgi_app)  # type: ignore[method-assign]


class HotPaths:
    """WSGI: a registered route with a bearer token, no cookie and plainly good input is answered
    here; every other request goes to ``ordinary``, Flask's own dispatch."""

    def __init__(
        self,
        app: Flask,
        routes: dict[tuple[str, str], HotRoute],
        ordinary: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
    ) -> None:
        self.app = app
        self.routes = routes
        self.ordinary = ordinary
        self.max_body = int(app.config.get("MAX_CONTENT_LENGTH") or 0)
        #: The hooks to run, per route's blueprints (known once the first request matched).
        self._hooks: dict[tuple[str, ...], _Hooks] = {}
        #: Each route's URL rule, as Flask matched it for the route's first request.
        self._rules: dict[HotRoute, Rule] = {}

    def _hooks_for(self, blueprints: list[str]) -> _Hooks:
        """The before- and after-request hooks Flask would run for a request of ``blueprints``,
        in Flask's order, but for the covered ones."""
        key = tuple(blueprints)
        hooks = self._hooks.get(key)
        if hooks is None:
            app = self.app
            names: list[str | None] = [None, *reversed(blueprints)]
            before = [
                (f, True) for name in names for f in app.url_value_preprocessors.get(name, ())
            ] + [
                (f, False)
                for name in names
                for f in app.before_request_funcs.get(name, ())
                if not _covered(app, f)
            ]
            after = [
                f
                for name in [*blueprints, None]
                for f in reversed(app.after_request_funcs.get(name, []))
                if not _covered(app, f)
            ]
            hooks = self._hooks[key] = _Hooks(before, after)
        return hooks

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        if route is None or "HTTP_COOKIE" in environ or "HTTP_AUTHORIZATION" not in environ:
            return self.ordinary(environ, start_response)
        document = None
        if route.method != "GET":
            body = self._json_body(environ)
            if body is None:
                return self.ordinary(environ, start_response)
            try:
                document = environ[DOCUMENT] = json.loads(body)
            except (ValueError, RecursionError):
                # The ordinary path answers a body that is not JSON (a 400 or 422).
                return self.ordinary(environ, start_response)
        loaded = route.load(document, environ.get("QUERY_STRING", ""))
        if loaded is None:
            return self.ordinary(environ, start_response)
        return self._answer(route, loaded, environ, start_response)

    def _json_body(self, environ: dict[str, Any]) -> bytes | None:
        """The JSON body, when the request declares one of an acceptable length; the stream is
        replaced by the bytes read, so that the ordinary path can read them again."""
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not 0 < int(length) <= (self.max_body or int(length)):
            return None
        body: bytes = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    def _answer(
        self, route: HotRoute, loaded: Any, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        app = self.app
        # No cookie, so no session to read: the empty one the ordinary path would have opened.
        ctx = _RouteContext(app, environ, session=SecureCookieSession())
        ctx.rule = self._rules.get(route)
        error: BaseException | None = None
        try:
            try:
                ctx.push()
                observability.start_request()
                try:
                    if request_started.receivers:
                        request_started.send(app, _async_wrapper=app.ensure_sync)
                    current = ctx.request
                    if ctx.rule is None and current.url_rule is not None:
                        self._rules[route] = current.url_rule
                    hooks = self._hooks_for(current.blueprints)
                    early = hooks.before_request(app)
                    if early is None:
                        # The success path: the lean finish and write.
                        answer = hooks.after_request(ctx, route.answer(loaded))
                        listed = _final_headers(current, answer)
                        if request_finished.receivers:
                            # Listeners see the headers the client gets, as on the ordinary path.
                            answer.headers = Headers(listed)
                            request_finished.send(
                                app, _async_wrapper=app.ensure_sync, response=answer
                            )
                        return _send(current, answer, listed, start_response)
                    response = app.finalize_request(early)
                except Exception as raised:
                    response = app.finalize_request(app.handle_user_exception(raised))
            except Exception as raised:
                error = raised
                response = app.handle_exception(raised)
            except BaseException:
                error = sys.exc_info()[1]
                raise
            return response(environ, start_response)
        finally:
            if error is not None and app.should_ignore_error(error):
                error = None
            ctx.pop(error)


class _RouteContext(RequestContext):
    """A hot request's context, given the rule its route matched before: a route is one method
    and one path without variables, so Flask's matching of the URL (``match_request`` is the
    hook Flask offers for this) would find the same rule and no view arguments every time."""

    rule: Rule | None = None

    def match_request(self) -> None:
        if self.rule is None:
            super().match_request()
            return
        self.request.url_rule, self.request.view_args = self.rule, {}


@dataclass(frozen=True)
class _Hooks:
    #: (hook, is a URL value preprocessor), in the order Flask runs them
    before: list[tuple[Callable[..., Any], bool]]
    after: list[Callable[[Response], Response]]

    def before_request(self, app: Flask) -> Any:
        """What Flask's ``preprocess_request`` does with these hooks: a value is the answer."""
        for hook, preprocesses_values in self.before:
            if preprocesses_values:
                hook(request.endpoint, request.view_args)
                continue
            answer = app.ensure_sync(hook)()
            if answer is not None:
                return answer
        return None

    def after_request(self, ctx: RequestContext, response: Response) -> Response:
        for hook in [*ctx._after_request_functions, *self.after]:
            response = cast(Response, hook(response))
        return response


def _final_headers(current: Request, response: Response) -> list[tuple[str, str]]:
    """The answer's headers with what the after-request hooks add to an API client's answer.

    The security headers (``core.security``) and the request id (``core.observability``),
    written straight into the header list; ``Vary: Cookie`` as on the ordinary path (where the
    session was looked at): the same URL answers a signed-in browser by its cookie.
    """
    listed = response.headers.to_wsgi_list()
    present = {name.lower() for name, _ in listed}
    for name, value in security.api_headers(current.is_secure):
        if name.lower() not in present:
            listed.append((name, value))
    if "vary" in present:
        response.vary.add("Cookie")
        listed = [(n, v) for n, v in listed if n.lower() != "vary"]
        listed.append(("Vary", response.headers["Vary"]))
    else:
        listed.append(("Vary", "Cookie"))
    listed.append(("X-Request-ID", context.app_globals().request_id))
    return listed


def _send(
    current: Request,
    response: Response,
    listed: list[tuple[str, str]],
    start_response: StartResponse,
) -> list[bytes]:
    """The answer sent, with its metrics counted (``core.observability``). A finished,
    in-memory response (no streaming, no range) is all an answer makes."""
    rule = current.url_rule.rule if current.url_rule else "unmatched"
    started = context.app_globals().started_at
    observability.count_request(current.method, rule, response.status_code, started)
    start_response(response.status, listed)
    return [response.get_data()]
