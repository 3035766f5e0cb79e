"""model-index.yml and the per-folder metafiles: readable by ``modelindex`` (what ``mim`` uses),
every model names an existing config, and every config folder with a README is indexed."""
from pathlib import Path

import pytest

modelindex = pytest.importorskip('modelindex')

REPO_ROOT = Path(__file__).resolve().parents[1]


def _models():
    index = modelindex.load(str(REPO_ROOT / 'model-index.yml'))
    index.build_models_with_collections()
    return index.models


def test_every_model_names_an_existing_config():
    models = _models()
    assert len(models) >= 20
    names = [m.name for m in models]
    assert len(set(names)) == len(names), 'duplicate model names'
    for model in models:
        assert (REPO_ROOT / model.config).is_file(), f'{model.name}: {model.config} is missing'
        assert model.name == Path(model.config).stem, f'{model.name} != {model.config}'


def test_every_collection_readme_exists_and_every_metafile_is_imported():
    index_text = (REPO_ROOT / 'model-index.yml').read_text()
    for metafile in REPO_ROOT.glob('configs/*/metafile.yml'):
        assert str(metafile.relative_to(REPO_ROOT)) in index_text, f'{metafile} not imported'
    index = modelindex.load(str(REPO_ROOT / 'model-index.yml'))
    readmes = [c.readme for c in index.collections]
    assert readmes and all(readmes)
    for readme in readmes:
        assert (REPO_ROOT / readme).is_file(), readme
