"""Admin web pages (HTML, server-rendered, no JavaScript needed): the people-facing side of the
admin API under ``/admin``, in three parts: sign-in (admin_auth: login, sessions, CSRF), the
crowdsourcing projects (admin_projects: project pages; admin_actions: publishing, sync, HITs and
the review queue) and training jobs (admin_jobs). Shared rendering and notices: admin_base.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.api.routes import admin_actions, admin_auth, admin_base, admin_jobs, admin_projects

#: Every registered aggregation method, in the order the project page lists them.
METHODS = admin_projects.METHODS

#: Every admin page router: sign-in, projects, project actions and the review queue, jobs.
ROUTERS = (admin_auth.router, admin_projects.router, admin_actions.router, admin_jobs.router)


def install(app: FastAPI) -> None:
    """Add the admin pages to `app`, with the two exception handlers they rely on: a signed-out
    request (admin_auth.SignInRequired) becomes the redirect to the sign-in form, and a page
    error (admin_base.PageError: an unknown id, a refused CSRF value) the HTML error page."""
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(admin_auth.SignInRequired, admin_auth.to_sign_in)
    app.add_exception_handler(admin_base.PageError, admin_base.show_page_error)
