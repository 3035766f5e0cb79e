"""The user-facing Markdown: every relative link resolves, and no text points outside the
repository (``../shared/docs``) or at a specification file."""
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO_ROOT / 'README.md', *REPO_ROOT.glob('docs/**/*.md'),
                *REPO_ROOT.glob('configs/**/README.md')])
LINK = re.compile(r'\]\(([^)\s]+)\)')


def _ids(paths):
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


@pytest.mark.parametrize('page', PAGES, ids=_ids(PAGES))
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r'[a-z]+://', target) or target.startswith(('#', 'mailto:')):
            continue
        path = (page.parent / target.split('#')[0]).resolve()
        assert path.exists(), f'{page.relative_to(REPO_ROOT)}: broken link {target}'


@pytest.mark.parametrize('page', PAGES, ids=_ids(PAGES))
def test_no_reference_outside_the_repository(page):
    text = page.read_text()
    assert 'shared/docs' not in text and 'spec.md' not in text
    assert not re.search(r'\bthe spec\b|\bspec §|\bRound [0-9]', text)


def test_readme_is_short_and_has_the_two_commands():
    text = (REPO_ROOT / 'README.md').read_text()
    assert len(text.encode()) <= 11000
    assert 'bash tools/setup_env.sh' in text and 'bash tools/run_tests.sh' in text
    assert 'bash tools/run_tests.sh' in (REPO_ROOT / '.ci' / 'run').read_text()
