"""Which resource answers a request, with the parameters the SDK declares for it, and `expand`.

Each resource lists its routes (`GET /v1/charges/{id}`, the SDK's params class,
the method that answers). The router finds the route, refuses parameters the
SDK does not declare, runs the answer under the store's lock and expands what
the request asks to expand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .checks import as_list
from .errors import StripeFailure, fail
from .params import check_object, params_class
from .store import Obj, Params, Store, public

# Answers the request: called with the ids in the path (`{id}`), then the parameters.
Handler = Callable[..., Obj]


@dataclass(frozen=True)
class Route:
    """`path` is a template: `{id}` stands for one path segment, handed to `handler` before the params.

    params: the SDK's params class (or its name in `stripe.params`); None for a route that takes none.
    refuse: checks run before the params', for what Stripe answers with its own message.
    """

    method: str
    path: str
    params: str | type | None
    handler: Handler
    refuse: Callable[[Params], None] | None = None
    pattern: re.Pattern[str] = field(init=False, compare=False)
    params_class: type | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(re.escape(self.path).replace(r"\{id\}", "([^/]+)")))
        resolved = params_class(self.params) if isinstance(self.params, str) else self.params
        object.__setattr__(self, "params_class", resolved)

    def check(self, params: Params) -> None:
        if self.refuse:
            self.refuse(params)
        errors: list[str] = []
        if self.params_class is None:
            errors.extend(f"Received unknown parameter: {name}" for name in params)
        else:
            check_object(params, self.params_class, errors)
        if errors:
            if errors[0].startswith("Missing"):
                code = "parameter_missing"
            else:
                code = "parameter_unknown" if "unknown" in errors[0] else "parameter_invalid"
            raise fail(errors[0], code)


class Router:
    def __init__(self, store: Store, routes: Iterable[Route]) -> None:
        self._store = store
        self._routes = list(routes)

    def dispatch(self, method: str, path: str, params: Params) -> Obj:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None or route.method != method:
                continue
            route.check(params)
            with self._store.lock:
                answer = public(route.handler(*match.groups(), params))
                return self._expand(answer, as_list(params.get("expand")))
        raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")

    def _expand(self, payload: Obj, paths: list[Any]) -> Obj:
        for path in paths:
            parts = str(path).split(".")
            if len(parts) > 4:
                raise fail(f"You cannot expand more than 4 levels of a property ({path}).")
            self._expand_path(payload, parts, str(path))
        return payload

    def _expand_path(self, node: Obj, parts: list[str], path: str) -> None:
        key, rest = parts[0], parts[1:]
        value = node.get(key)
        if key not in node or (isinstance(value, list) and not rest):
            raise fail(f"This property cannot be expanded ({path}).")
        if isinstance(value, str):
            found = self._store.find(value)
            if found is None:
                raise fail(f"This property cannot be expanded ({path}).")
            value = node[key] = public(found)
        for child in value if isinstance(value, list) else [value]:
            if rest and isinstance(child, dict):
                self._expand_path(child, rest, path)
