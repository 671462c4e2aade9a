"""The pages' templates: a Jinja2 environment built when the first page is rendered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import jinja2

# A file-system loader, not PackageLoader: it also works in the frozen release bundle, where the
# templates are plain data files next to the code.
TEMPLATES_DIR = Path(__file__).parent / "templates"


class Templates:
    """The pages' Jinja2 environment, built when the first page is rendered.

    An engine nobody browses (run from OIAnalytics, or headless) never loads Jinja2: about 1.5 MiB and 20 ms
    of start-up spared.
    """

    def __init__(self, static: Callable[[str], str]) -> None:
        self._static = static
        self._environment: jinja2.Environment | None = None

    def get(self, name: str) -> jinja2.Template:
        """The template ``name`` of ``engine/web/templates``."""
        if self._environment is None:
            import jinja2

            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                autoescape=jinja2.select_autoescape(default=True),
                undefined=jinja2.StrictUndefined,
            )
            environment.globals["static"] = self._static
            self._environment = environment
        return self._environment.get_template(name)


TEMPLATES = web.AppKey("templates", Templates)
