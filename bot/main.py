"""The `gridbot` command line: serve, database, demo data, staff, SLA job, model training."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from backend.cityconfig import CityConfig, ConfigError, load_city_config
from backend.settings import get_settings

cli = typer.Typer(help="gridbot — chat-first grid-based community governance (网格化治理).", no_args_is_help=True)
db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
model_cli = typer.Typer(help="Model versions: list, activate, roll back.", no_args_is_help=True)
cli.add_typer(model_cli, name="model")
console = Console()

DEMO_PASSWORD = "gridbot-demo"


def _city(
    config_dir: Path | None = None,
    city_file: str = "demo_city.geojson",
    staff_file: str = "staff.csv",
) -> CityConfig:
    try:
        return load_city_config(config_dir or get_settings().config_dir, city_file, staff_file)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(code=2) from exc


def _configure_logging(level: str) -> None:
    from backend.logging_setup import configure_logging

    configure_logging(level)


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the latest schema."""
    from backend.usecases.operations import upgrade_database

    upgrade_database(get_settings(), revision)
    console.print(f"database at {revision}")


@cli.command("load-demo")
def load_demo(
    history: Annotated[
        bool, typer.Option("--history/--no-history", help="also write a simulated 90-day history (empty city only)")
    ] = True,
    days: Annotated[int, typer.Option(help="days of history")] = 90,
    per_day: Annotated[float, typer.Option(help="mean reports a weekday")] = 12.0,
    seed: Annotated[int, typer.Option(help="the history's random seed (same seed, same history)")] = 18,
) -> None:
    """Load the demo city: departments, categories, areas and staff (demo passwords in development), and its history."""
    from backend.usecases.operations import load_city

    settings = get_settings()
    password = DEMO_PASSWORD if settings.env == "development" else None
    summary, staff = load_city(settings, _city(), demo_password=password)
    console.print(
        f"loaded {summary.departments} departments, {summary.categories} categories, "
        f"{summary.areas} areas, {staff} staff"
    )
    if password:
        console.print(f"demo staff log in with their code and the password [bold]{password}[/bold] (development only)")
    if history:
        _load_history(days=days, per_day=per_day, seed=seed)


def _load_history(*, days: int, per_day: float, seed: int) -> None:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from backend.domain.errors import DomainError
    from backend.texts import error_text
    from backend.usecases.operations import load_demo_history, open_backend

    backend = open_backend(get_settings(), load_classifier=False)
    started = time.perf_counter()
    columns = (TextColumn("history"), BarColumn(), MofNCompleteColumn(), TextColumn("days"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("history", total=days)
            made = load_demo_history(
                backend,
                days=days,
                per_day=per_day,
                seed=seed,
                on_day=lambda done: progress.update(task, completed=done),
            )
    except DomainError as exc:
        console.print(f"[yellow]history skipped:[/yellow] {error_text(exc, 'en')}")
        return
    console.print(
        f"history: {made.tickets} tickets, {made.moves} moves, {made.ratings} ratings, {made.reopened} reopened, "
        f"{made.escalations + made.sla.escalations} escalations over {days} days "
        f"in {time.perf_counter() - started:.1f} s"
    )


@cli.command("import-city")
def import_city(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            help="a city directory: city.geojson, staff.csv, departments.yaml, responsibilities.yaml "
            "(taxonomy.yaml, calendar.yaml optional)",
        ),
    ],
) -> None:
    """Validate a city's own data and make it the city in use (a running server picks it up within a second)."""
    from backend.usecases.operations import import_city as import_city_dir

    try:
        done = import_city_dir(get_settings(), directory)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(
        f"imported {done.areas} areas ({done.grids} grids), {done.departments} departments, {done.staff} staff "
        f"from {directory}; {done.deactivated} staff not in this city deactivated; city in use: {done.installed_in}"
    )
    console.print("set staff passwords with create-admin or the admin API")


@cli.command("import-grids")
def import_grids(path: Annotated[Path, typer.Argument(exists=True, help="a GeoJSON FeatureCollection")]) -> None:
    """Validate and import areas from a GeoJSON file."""
    from backend.usecases.operations import import_areas

    summary = import_areas(get_settings(), _city(city_file=str(path.resolve())))
    console.print(f"imported {summary.areas} areas from {path}")


@cli.command("import-staff")
def import_staff(path: Annotated[Path, typer.Argument(exists=True, help="staff CSV, as config/staff.csv")]) -> None:
    """Validate and import staff from a CSV file."""
    from backend.usecases.operations import import_staff as import_staff_of

    count = import_staff_of(get_settings(), _city(staff_file=str(path.resolve())))
    console.print(f"imported {count} staff from {path}; set passwords with create-admin or the admin API")


@cli.command("create-admin")
def create_admin(
    code: Annotated[str, typer.Option(help="login name")] = "admin",
    name: Annotated[str, typer.Option(help="display name")] = "系统管理员",
    password: Annotated[str | None, typer.Option(help="omit to generate one")] = None,
) -> None:
    """Create (or reset) an admin account."""
    from backend.usecases.operations import create_admin as create_admin_account

    password = password or secrets.token_urlsafe(12)
    create_admin_account(get_settings(), code=code, name=name, password=password)
    console.print(f"admin [bold]{code}[/bold] ready; password: {password}")


@cli.command("retention")
def retention() -> None:
    """Apply the retention periods once: anonymise finished tickets, delete old photos and chat transcripts."""
    from backend.usecases.operations import apply_retention, open_backend

    console.print(apply_retention(open_backend(get_settings(), load_classifier=False)))


@cli.command("rebuild-rollups")
def rebuild_rollups() -> None:
    """Recompute the statistics rollups from the tickets (after a bulk load or a GRIDBOT_TIMEZONE change)."""
    from backend.usecases.operations import rebuild_rollups as rebuild

    rows = rebuild(get_settings())
    console.print(f"statistics rollups rebuilt: {rows} rows")


@cli.command("sla-tick")
def sla_tick() -> None:
    """Run the SLA job once: lights, 督办 reminders, escalation."""
    from backend.usecases.operations import open_backend
    from backend.usecases.operations import sla_tick as run_sla_tick

    console.print(run_sla_tick(open_backend(get_settings(), load_classifier=False)))


@cli.command("worker")
def worker(worker_id: Annotated[str | None, typer.Option(help="a name for this worker process")] = None) -> None:
    """Send outbox notifications and run the periodic jobs (SLA tick, 督办, daily digest) until stopped."""
    import os
    import signal
    import socket
    import threading

    from backend.usecases.operations import open_backend, run_outbox_worker
    from bot.adapters import build_fallback, build_senders, close_senders
    from bot.app import settle_heap

    settings = get_settings()
    _configure_logging(settings.log_level)
    backend = open_backend(settings, load_classifier=False)
    senders = build_senders(settings)
    settle_heap()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    name = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    console.print(f"worker {name}: channels {', '.join(sorted(senders)) or 'none configured'}")
    try:
        result = run_outbox_worker(backend, senders, worker_id=name, stop_event=stop, fallback=build_fallback(settings))
    finally:
        close_senders(senders)
    console.print(result)


@cli.command("process")
def process(worker_id: Annotated[str | None, typer.Option(help="a name for this processor")] = None) -> None:
    """Run the chat turns of the messages the webhooks stored in the inbox (GRIDBOT_INBOX_ENABLED) until stopped.

    Any number may run on PostgreSQL (claims skip each other's rows); on SQLite use the one inside `serve`.
    """
    import os
    import signal
    import socket
    import threading

    from backend.usecases.operations import open_backend
    from bot.app import settle_heap
    from bot.chatbot import Chatbot
    from bot.inbox import InboxProcessor, ProcessorConfig

    settings = get_settings()
    _configure_logging(settings.log_level)
    _city()
    backend = open_backend(settings)
    chat = Chatbot(backend.runtime, backend.session_factory)
    settle_heap()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    name = worker_id or f"process-{socket.gethostname()}-{os.getpid()}"
    console.print(f"inbox processor {name}")
    InboxProcessor(
        backend.session_factory,
        chat,
        worker_id=name,
        config=ProcessorConfig.from_settings(settings),
    ).run(stop)


@cli.command("telegram-poll")
def telegram_poll() -> None:
    """Talk to Telegram by long polling instead of a webhook (local development)."""
    from backend.usecases.operations import open_backend
    from bot.chatbot import Chatbot
    from bot.telegram.route import run_polling

    settings = get_settings()
    _configure_logging(settings.log_level)
    if not settings.telegram_token.get_secret_value():
        console.print("[red]set GRIDBOT_TELEGRAM_TOKEN first[/red]")
        raise typer.Exit(code=2)
    backend = open_backend(settings)
    run_polling(settings, Chatbot(backend.runtime, backend.session_factory))


@cli.command("wechat-menu")
def wechat_menu(
    path: Annotated[
        Path | None, typer.Argument(help="the menu file (default: config/wechat_menu.yaml)", show_default=False)
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="only check the file, push nothing")] = False,
) -> None:
    """Push the Official Account's custom menu (我要反映 / 我的工单 / 使用说明) to WeChat."""
    from backend.workers.channels import ChannelError
    from bot.wechat.menu import MenuError, load_menu, push_menu
    from bot.wechat.send import make_wechat_client

    settings = get_settings()
    source = path or settings.config_dir / "wechat_menu.yaml"
    try:
        menu = load_menu(source)
    except MenuError as exc:
        console.print(f"[red]menu error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    names = " / ".join(entry["name"] for entry in menu["button"])
    if check:
        console.print(f"{source}: menu is valid ({names})")
        return
    try:
        push_menu(make_wechat_client(settings), menu)
    except ChannelError as exc:
        console.print(f"[red]WeChat refused the menu:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    console.print(f"menu pushed: {names}")


@cli.command("train")
def train(
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV/XLSX file or a directory of CSVs [default: config/seed_corpus]")
    ] = None,
    text_cols: Annotated[str, typer.Option("--text-cols")] = "text",
    label_col: Annotated[str, typer.Option("--label-col")] = "label",
    cv: Annotated[int | None, typer.Option("--cv", min=2)] = None,
    out: Annotated[Path | None, typer.Option("--out")] = None,
    metrics_out: Annotated[Path | None, typer.Option("--metrics-out")] = None,
    include_corrections: Annotated[
        bool, typer.Option("--include-corrections", help="add dispatchers' category corrections from the database")
    ] = False,
    seed_prior_map: Annotated[
        Path | None,
        typer.Option(
            "--seed-prior", exists=True, help="label map onto the data's labels: the seed corpus joins as a prior"
        ),
    ] = None,
    lexicon_file: Annotated[
        Path | None,
        typer.Option(
            "--lexicon",
            exists=True,
            help="the city's category tree (a path from the first-level domain per row) as features",
        ),
    ] = None,
) -> None:
    """Train the classifier (see `nlp train`); optionally with staff corrections from the database."""
    from nlp.cli import train as nlp_train

    settings = get_settings()
    extra: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:  # the corrections file goes when training ends
        if include_corrections:
            from backend.usecases.operations import open_backend, write_corrections

            tmp = Path(scratch) / "corrections.csv"
            n = write_corrections(open_backend(settings, load_classifier=False), tmp)
            console.print(f"including {n} staff corrections")
            if n:
                extra.append(tmp)
        nlp_train(
            data=data or settings.config_dir / "seed_corpus",
            text_cols=text_cols,
            label_col=label_col,
            cv=cv,
            out=out,
            metrics_out=metrics_out,
            extra_data=extra or None,
            seed_prior_map=seed_prior_map,
            lexicon_file=lexicon_file,
            config_dir=settings.config_dir,
            model_root=settings.model_dir,
        )


@cli.command("retrain")
def retrain(
    holdout: Annotated[
        float, typer.Option("--holdout", min=0.05, max=0.5, help="share of the newest history held back to compare")
    ] = 0.2,
    corpus: Annotated[
        Path | None, typer.Option("--corpus", exists=True, help="seed corpus [default: config/seed_corpus]")
    ] = None,
) -> None:
    """Train a new model version from the seed corpus and the city's history; activate it only if not worse."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from backend.usecases.learning import retrain_model
    from backend.usecases.operations import open_backend

    settings = get_settings()
    backend = open_backend(settings, load_classifier=False)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("training", total=1)

            def update(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=total)

            report = retrain_model(settings, backend.session_factory, corpus_dir=corpus, share=holdout, progress=update)
    except ValueError as exc:
        console.print(f"[red]cannot retrain:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    table = Table(title=f"held-back history: newest {report.held_back} items ({report.learned} learned from)")
    for column in ("model", "department accuracy", "department macro-F1", "subcategory accuracy", "macro-F1"):
        table.add_column(column)
    for name, scores in ((f"{report.previous} (active)", report.current), ("candidate", report.candidate)):
        table.add_row(
            name,
            f"{scores.department_accuracy:.3f}",
            f"{scores.department_macro_f1:.3f}",
            f"{scores.accuracy:.3f}",
            f"{scores.macro_f1:.3f}",
        )
    console.print(table)
    if report.held_back == 0:
        console.print("[yellow]no history to compare on yet: the model in use stays[/yellow]")
        raise typer.Exit(code=1)
    if not report.accepted:
        console.print(
            f"[yellow]the candidate is worse on the held-back history: {report.previous} stays active[/yellow]"
        )
        raise typer.Exit(code=1)
    console.print(f"[green]{report.version} is active[/green] (running processes switch within a few seconds)")


@model_cli.command("list")
def model_list() -> None:
    """The model versions in the model directory, the active one marked."""
    from rich.table import Table

    from backend.usecases.learning import model_versions

    table = Table()
    for column in ("", "version", "built", "from", "held-back department / subcategory accuracy"):
        table.add_column(column)
    for v in model_versions(get_settings()):
        evaluation = v.meta.get("evaluation", {}).get("candidate")
        departments = (
            f"{evaluation['department_accuracy']:.3f}" if evaluation and "department_accuracy" in evaluation else "—"
        )
        figures = f"{departments} / {evaluation['accuracy']:.3f}" if evaluation else ""
        table.add_row(
            "*" if v.active else "",
            v.name,
            str(v.meta.get("created_at", "")),
            str(v.meta.get("built_from", "")),
            figures,
        )
    console.print(table)


@model_cli.command("activate")
def model_activate(version: Annotated[str, typer.Argument(help="a version from `gridbot model list`")]) -> None:
    """Make a model version active; running processes pick it up without a restart."""
    from backend.usecases.learning import activate_model
    from nlp.modelfile import ModelLoadError
    from nlp.modelstore import ModelStoreError

    try:
        previous = activate_model(get_settings(), version)
    except (ModelStoreError, ModelLoadError) as exc:
        console.print(f"[red]cannot activate {version}:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"{version} is active (was {previous})")


@model_cli.command("rollback")
def model_rollback() -> None:
    """Return to the model version that was active before the current one."""
    from backend.usecases.learning import rollback_model
    from nlp.modelfile import ModelLoadError
    from nlp.modelstore import ModelStoreError

    try:
        version = rollback_model(get_settings())
    except (ModelStoreError, ModelLoadError) as exc:
        console.print(f"[red]cannot roll back:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"{version} is active again")


@cli.command("build-model")
def build_model() -> None:
    """Build the shipped default model from the seed corpus if it is missing or stale."""
    from nlp.cli import ensure_default_model

    settings = get_settings()
    path = ensure_default_model(settings.config_dir, settings.model_dir)
    console.print(f"default model ready at {path}")


@cli.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(help="API processes")] = 1,
) -> None:
    """Start the web service (staff API, chat webhooks, dashboard)."""
    import uvicorn

    settings = get_settings()
    _configure_logging(settings.log_level)
    _city()  # fail fast with a clear message on bad config
    from nlp.cli import ensure_default_model

    ensure_default_model(settings.config_dir, settings.model_dir)
    from backend.logging_setup import uvicorn_log_config

    uvicorn.run(
        "bot.app:serve_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings.log_level),
    )


def _register_borrowed_commands() -> None:
    from bot.console.cli import chat_command
    from nlp.cli import evaluate

    cli.command("eval", help="Evaluate a saved model on labelled messages (optionally through a label map).")(evaluate)
    cli.command("chat", help="Chat with the bot in the terminal, as a resident or (--as CODE) as staff.")(chat_command)


_register_borrowed_commands()

if __name__ == "__main__":
    cli()
