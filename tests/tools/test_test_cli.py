"""tools/test.py's command line: --tta wraps the model and swaps the pipeline, or says why not."""
import pytest

from tests.helpers.tools import config_path, load_tool


def _configure(config, tmp_path, *flags):
    test = load_tool('test')
    return test.configure(test.parse_args([config_path(config), str(tmp_path / 'model.pth'),
                                           '--work-dir', str(tmp_path), *flags]))


@pytest.mark.parametrize('config, model, module', [
    ('atss_swin_t_coco_3x.py', 'DetTTAModel', 'ATSS'),
    ('toy/atss_swin_t_toy.py', 'DetTTAModel', 'ATSS'),
    ('upernet_swin_t_ade20k.py', 'SegTTAModel', 'EncoderDecoder'),
])
def test_tta_wraps_the_model_and_uses_the_tta_pipeline(tmp_path, config, model, module):
    cfg = _configure(config, tmp_path, '--tta')
    assert (cfg.model.type, cfg.model.module.type) == (model, module)
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert pipeline == cfg.tta_pipeline
    assert sorted(t['prob'] for t in pipeline[1].transforms[1]) == [0.0, 1.0]  # flip and not


def test_tta_on_a_config_without_one_is_refused_up_front(tmp_path):
    # MMDetection 3.3's DetTTAModel cannot merge instance masks, so Mask R-CNN defines no TTA
    with pytest.raises(SystemExit, match=r'--tta: .*mask_rcnn_swin_t_coco.py defines no '
                                         r'tta_model and tta_pipeline; .*atss_swin_t_coco_3x'):
        _configure('mask_rcnn_swin_t_coco.py', tmp_path, '--tta')
