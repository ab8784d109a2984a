"""Admin web pages (HTML, server-rendered, no JavaScript needed): the people-facing side of the
admin API under ``/admin``, in three parts: sign-in (admin_auth: login, sessions, CSRF), the
crowdsourcing projects (admin_projects: project pages; admin_actions: publishing, sync, HITs and
the review queue) and training jobs (admin_jobs). Shared rendering and notices: admin_base.
"""

from __future__ import annotations

from app.api.routes import admin_actions, admin_auth, admin_jobs, admin_projects

#: Every registered aggregation method, in the order the project page lists them.
METHODS = admin_projects.METHODS

#: Every admin page router: sign-in, projects, project actions and the review queue, jobs.
ROUTERS = (admin_auth.router, admin_projects.router, admin_actions.router, admin_jobs.router)
