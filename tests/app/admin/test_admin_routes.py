"""How the admin pages are wired: every page but sign-in, sign-out and the stylesheet goes through
the one sign-in dependency, every form POST through the CSRF-checked one, and the two exceptions
they raise are each mapped by one handler of the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.api.routes import admin_auth, admin_base, admin_pages

PUBLIC = {"/admin/login", "/admin/logout", "/admin/assets/admin.css"}


def calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from calls(sub)


def test_every_admin_route_signs_in_through_the_one_dependency() -> None:
    checked = 0
    for route in (r for router in admin_pages.ROUTERS for r in router.routes):
        assert isinstance(route, APIRoute)
        used = set(calls(route.dependant))
        if route.path in PUBLIC:
            assert admin_auth.signed_in not in used, route.path
            continue
        assert admin_auth.signed_in in used, route.path
        if "POST" in (route.methods or ()):
            assert admin_auth.checked_form in used, route.path
        checked += 1
    assert checked >= 15


def test_admin_exceptions_are_mapped_once(app: FastAPI) -> None:
    handlers = app.exception_handlers
    assert handlers[admin_auth.SignInRequired] is admin_auth.to_sign_in
    assert handlers[admin_base.PageError] is admin_base.show_page_error
