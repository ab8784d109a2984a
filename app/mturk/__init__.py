"""Amazon Mechanical Turk: the only package that imports boto3/botocore (import-linter contract).

Modules (import them directly; this package imports nothing so ``app.mturk.xml`` stays light):

``app.mturk.client``
    ``make_mturk_client(settings, *, project_allow_live=False, spending_cap=None,
    max_attempts=6) -> MTurkClient``. Endpoint: ``MTURK_ENDPOINT_URL`` if set (the emulator;
    dummy keys are supplied), else the sandbox (``MTURK_SANDBOX=true``, the default), else live
    only with ``MTURK_ALLOW_LIVE`` + the project's ``allow_live`` + a positive spending cap
    (otherwise ``MTurkLiveNotAllowed``, 403, naming what is missing). ``resolve_target`` does the
    same without building a client. ``MTurkClient``: ``.endpoint_url`` (store it on each HIT
    row), ``.submit_base`` (``turkSubmitTo``), ``.mode`` (sandbox | live | custom),
    ``call(op, **boto3_params)`` for any operation, and typed helpers: ``create_hit_type``,
    ``create_hit_with_hit_type``, ``create_hit_idempotent`` (HitAlreadyExists → adopts the
    existing HIT, ``CreatedHIT.adopted``), ``get_hit``, ``iter_hits``,
    ``create_additional_assignments`` / ``send_bonus`` (False when the token was already
    processed), ``update_expiration``, ``expire_hit``, ``update_hit_review_status``,
    ``delete_hit``, ``iter_assignments(hit_id, statuses=)``, ``get_assignment``,
    ``approve_assignment``, ``reject_assignment``, ``ensure_approved`` / ``ensure_rejected``
    (idempotent on retry), ``create_worker_block``, ``delete_worker_block``,
    ``iter_worker_blocks``, ``notify_workers`` (returns failure entries),
    ``create_qualification_type``, ``associate_qualification``,
    ``iter_workers_with_qualification``, ``get_account_balance``. botocore retries in standard
    mode (throttling, 5xx, connection errors).
``app.mturk.errors``
    ``MTurkError(ExternalServiceError)`` with ``turk_error_code``, ``aws_code``, ``operation``,
    ``http_status``, ``request_id``; subclasses ``MTurkRequestError`` (status_code 404 for
    "does not exist", 422 for parameter errors, else 409), ``MTurkHitAlreadyExists``
    (``existing_hit_id``), ``MTurkDuplicateRequest``, ``MTurkUnavailable`` (503), and the
    TurkErrorCode constants (``INVALID_ASSIGNMENT_STATE``, ``HIT_ALREADY_EXISTS``, ...).
``app.mturk.xml``
    ``external_question_xml(url, frame_height=0, *, require_https=True)``,
    ``parse_question``, ``build_answers(fields)`` and ``parse_answers(xml) ->
    QuestionFormAnswers`` (``.as_dict()``, ``.multi()``, ``.answers``).
``app.mturk.emulator``
    ``run_emulator(port=0, state_path=None, accounting="sandbox",
    allow_http_questions=False) -> Emulator``: ``.url``, ``.clock.advance(s)``,
    ``.faults.set(...)`` / ``.fail_next(op, kind, n)``, ``.worker_accept(hit_id, worker_id)``,
    ``.worker_submit(assignment_id, answers)``, ``.worker_return``, ``.preview_url``,
    ``.set_worker_profile``, ``.calls`` / ``.errors`` counters; ``synthetic_worker_id(label)``
    maps any label (e.g. ``worker_32``) to an MTurk-shaped WorkerId. CLI: ``frtrain mturk-local``.
"""
