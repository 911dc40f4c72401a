"""Run the job worker: procrastinate's, kept running through a database outage and
stopped promptly on SIGTERM (dhportal/worker.py). Takes the options of
`procrastinate worker` that matter here; the rest come from
PROCRASTINATE_WORKER_DEFAULTS."""

from dhportal import commands, worker


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


class Command(commands.Command):
    help = "Run the job worker until SIGTERM or Ctrl-C; it waits out a database outage."
    usage_hint = "usage: worker [--one-shot] [--queue NAME] [--concurrency N]"

    def add_arguments(self, parser):
        parser.add_argument(
            "--one-shot", action="store_true", help="stop once no job is left to start"
        )
        parser.add_argument(
            "-q", "--queue", action="append", dest="queues", help="only this queue (repeatable)"
        )
        parser.add_argument("--concurrency", type=_positive(int), help="jobs run at once")
        parser.add_argument(
            "--fetch-job-polling-interval",
            type=_positive(float),
            help="seconds between looks for new jobs (besides notifications)",
        )

    def handle(self, *args, one_shot=False, queues=None, concurrency=None, **options):
        chosen = {
            "wait": not one_shot,
            "queues": queues,
            "concurrency": concurrency,
            "fetch_job_polling_interval": options["fetch_job_polling_interval"],
        }
        worker.run({key: value for key, value in chosen.items() if value is not None})
