"""Scheduled jobs: ``@bot.every(minutes=5)`` and ``@bot.cron("0 8 * * *", tz="Asia/Shanghai")`` (docs/schedules.md).

Jobs run in the bot's task group while it runs (:meth:`Bot.running <framework.app.bot.Bot.running>`), one task
per job, and read the time from the bot's clock (``Bot(clock=...)``; tests pass
:class:`framework.testing.ManualClock` and move it). A job's runs never overlap: the next occurrence is
computed after a run ends, from the clock's time then, so occurrences missed while a run lasted (or while
the process was away) are skipped, as cron does. On shutdown the job tasks are cancelled after the event
queue has drained. A failing run is reported like a handler error (``@bot.on_error``, the plugins' error
hook) and the job goes on.

Intervals are aligned on the Unix epoch (``every(minutes=5)`` runs at :00, :05, ... wall-clock time), so
every process of a fleet computes the same occurrences. With a Redis URL (``bot.config["schedules"]
["redis"]``), each occurrence is *claimed* with ``SET key NX PX`` before it runs; the process that claims it
runs it, the others skip it. A claim, not a lock: a lock released after a quick run would let a process
whose timer fires a few milliseconds later run the same occurrence again.

Cron expressions are parsed by cronsim (see :class:`Cron`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import TaskStatus

from framework.app.errors import BotError
from framework.app.handlers import Registration, bind_parameters, call_with
from framework.app.scenes import Scene
from framework.models import errorcodes as ec

if TYPE_CHECKING:
    from framework.app.bot import Bot

__all__ = ["Cron", "Every", "Job", "ProactiveMessageError", "Scheduler", "Trigger", "send_proactive"]

log = logging.getLogger("framework.app.schedules")


class Trigger(Protocol):
    """When a job runs: the first occurrence strictly after a wall-clock time (Unix seconds)."""

    def next_after(self, now: float) -> float:
        """The first occurrence after ``now``."""
        ...


@dataclass(frozen=True, slots=True)
class Every:
    """Every ``seconds`` seconds, aligned on the Unix epoch (so every process computes the same occurrences)."""

    seconds: float

    def next_after(self, now: float) -> float:
        """The next multiple of :attr:`seconds` after ``now``."""
        return (math.floor(now / self.seconds) + 1) * self.seconds

    def __str__(self) -> str:
        return f"every {self.seconds:g} s"


class Cron:
    """A five-field cron expression (minute hour day month weekday) in a time zone (IANA name, default UTC).

    Parsed by `cronsim <https://pypi.org/project/cronsim/>`_: a small, dependency-free parser kept by the
    Healthchecks.io project, which runs it on every cron check it monitors; it follows cron's rules for
    day-of-month/day-of-week and for daylight-saving gaps and repeats, works with ``zoneinfo`` time zones,
    and ships type hints. A bad expression or time zone is a :class:`BotError` at registration.
    """

    __slots__ = ("expression", "tz")

    def __init__(self, expression: str, tz: str = "UTC") -> None:
        from cronsim import CronSim, CronSimError

        try:
            self.tz = zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise BotError(
                f"cron {expression!r}: unknown time zone {tz!r}; use an IANA name such as 'Asia/Shanghai'"
            ) from None
        try:
            CronSim(expression, _dt.datetime.now(self.tz))
        except CronSimError as exc:
            raise BotError(
                f"cron {expression!r}: {exc}; expected five fields: minute hour day-of-month month day-of-week"
            ) from None
        self.expression = expression

    def next_after(self, now: float) -> float:
        """The next time the expression matches after ``now`` (whole minutes, in :attr:`tz`)."""
        from cronsim import CronSim

        start = _dt.datetime.fromtimestamp(now, self.tz)
        return next(CronSim(self.expression, start)).timestamp()

    def __str__(self) -> str:
        return f"cron {self.expression!r} ({self.tz.key})"

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, tz={self.tz.key!r})"


@dataclass(eq=False, kw_only=True)
class Job(Registration):
    """A scheduled function: ``@bot.every(...)`` or ``@bot.cron(...)``. It may ask for ``Bot``, the API client
    and provided types, like a startup hook."""

    name: str
    trigger: Trigger
    fleet_wide: bool = True
    """With a Redis URL configured, run each occurrence in one process of the fleet (else in every process)."""
    runs: int = field(default=0, repr=False)
    """Completed runs in this process (failed ones included)."""

    def bind(self, bot: Bot) -> None:
        self.params = bind_parameters(self.func, bot=bot, event_models=(), with_event=False)


class Scheduler:
    """Runs the bot's jobs (started by :meth:`Bot.running`); :meth:`idle` tells tests when due runs are done."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._due: dict[Job, float] = {}  # job -> the occurrence it sleeps until
        self._running: set[Job] = set()
        self._changed = anyio.Event()
        self._claims: Any = None  # the Redis client while running with a Redis URL
        self._jobs = 0  # jobs of the current run

    @property
    def redis_url(self) -> str | None:
        """``bot.config["schedules"]["redis"]``: where fleet-wide jobs claim their occurrences."""
        section = self._bot.config.get("schedules") or {}
        url = section.get("redis") if isinstance(section, dict) else None
        return str(url) if url else None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def idle(self, now: float) -> bool:
        """Every job is asleep until after ``now`` (none running, none due)."""
        return not self._running and len(self._due) >= self._jobs and all(due > now for due in self._due.values())

    async def changed(self) -> None:
        """Return when a job starts, ends or goes to sleep."""
        await self._changed.wait()

    async def run(self, jobs: list[Job], *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run ``jobs`` until cancelled (the bot's shutdown cancels it); started once each job waits for its
        first occurrence."""
        url = self.redis_url
        if url is None:
            await self._run_all(jobs, task_status)
            return
        import coredis

        client: coredis.Redis[str] = coredis.Redis.from_url(
            url, decode_responses=True, connect_timeout=5.0, stream_timeout=5.0
        )
        async with client:
            self._claims = client
            try:
                await self._run_all(jobs, task_status)
            finally:
                self._claims = None

    async def _run_all(self, jobs: list[Job], task_status: TaskStatus[None]) -> None:
        self._jobs = len(jobs)
        try:
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    await tg.start(self._loop, job)
                task_status.started()
        finally:
            self._jobs = 0
            self._due.clear()
            self._running.clear()

    async def _loop(self, job: Job, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        clock = self._bot.clock
        first = True
        while True:
            now = clock.time()
            due = job.trigger.next_after(now)
            self._due[job] = due
            self._notify()
            if first:
                task_status.started()
                first = False
            await clock.sleep(due - now)
            del self._due[job]
            self._running.add(job)
            self._notify()
            try:
                if await self._claim(job, due):
                    await self._run_once(job)
            finally:
                self._running.discard(job)

    async def _claim(self, job: Job, due: float) -> bool:
        client = self._claims
        if client is None or not job.fleet_wide:
            return True
        from coredis import PureToken

        key = f"qqbot:{{{self._bot.name}}}:job:{job.name}:{int(due * 1000)}"
        try:
            with anyio.fail_after(5):
                return bool(await client.set(key, "1", px=24 * 3600 * 1000, condition=PureToken.NX))
        except Exception as exc:  # no Redis: skipping is safer than running a job twice
            await self._bot._report(
                BotError(
                    f"job {job.name}: could not claim the occurrence in Redis ({type(exc).__name__}: {exc}); "
                    "skipped it so that no two processes run it; check the schedules Redis URL"
                ),
                None,
                job.name,
            )
            return False

    async def _run_once(self, job: Job) -> None:
        args, kwargs = call_with(job.params, self._bot, None)
        try:
            await job.func(*args, **kwargs)
        except Exception as exc:
            await self._bot._report(exc, None, job.name)
        finally:
            job.runs += 1


class ProactiveMessageError(BotError):
    """The platform refused a message that answers nothing (a proactive send): ``code`` says why."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


_PROACTIVE_REFUSALS: dict[int, str] = {
    ec.ACTIVE_MESSAGE_NO_PERMISSION: "the bot may not send active messages (withdrawn for most bots in April 2025)",
    ec.ACTIVE_MESSAGE_NO_PERMISSION_2: "the bot may not send active messages (withdrawn for most bots in April 2025)",
    ec.USER_REFUSES_MESSAGES: "the user or group turned the bot's active messages off",
    ec.ACTIVE_OVER_LIMIT: "the active-message quota is used up",
    ec.ACTIVE_PUSH_LIMIT_1: "the active-message quota is used up",
    ec.ACTIVE_PUSH_LIMIT_2: "the active-message quota is used up",
    ec.ACTIVE_PUSH_LIMIT_3: "the active-message quota is used up",
}


async def send_proactive(bot: Bot, scene: Scene | str, target_id: str, content: str | None = None, **body: Any) -> Any:
    """Send a message that answers nothing (from a job): ``scene`` ``group``/``c2c``/``guild``/``dm``, the group
    openid, user openid, channel id or DM guild id, then ``content`` and other body fields (``markdown``, ``ark``,
    ``embed``, ``image``...). Raises :class:`ProactiveMessageError` when the platform refuses it as a proactive
    message; other API errors pass through."""
    from framework.models.api import Markdown, MessageToCreate, MsgType

    try:
        where = Scene(scene)
    except ValueError:
        raise BotError(f"bot.send: unknown scene {scene!r}; expected group, c2c, guild (or channel) or dm") from None
    markdown = body.pop("markdown", None)
    if isinstance(markdown, str):
        markdown = Markdown(content=markdown)
    api = bot.api
    if where in (Scene.GROUP, Scene.C2C):
        msg_type = MsgType.MARKDOWN if markdown is not None else MsgType.TEXT
        message = MessageToCreate(content=content, msg_type=msg_type, markdown=markdown, **body)
        send = api.post_group_message if where is Scene.GROUP else api.post_c2c_message
    else:
        message = MessageToCreate(content=content, markdown=markdown, **body)
        send = api.post_channel_message if where is Scene.CHANNEL else api.post_dms_message
    try:
        return await send(target_id, message)
    except Exception as exc:
        code = getattr(exc, "code", None)
        why = _PROACTIVE_REFUSALS.get(code) if isinstance(code, int) else None
        if why is None:
            raise
        raise ProactiveMessageError(
            f"a proactive message to {where.value} {target_id} was refused (code {code}): {why}; answer a user's "
            "message instead (a passive reply), or send only where the platform lets this bot push",
            code,
        ) from exc
