"""tools/visualize.py end to end on a detector and a segmentor (random weights; the CAM of a
trained detector: test_visualize_trained.py): every picture written at its
size, not blank, in one HTML page; clear errors for what a user can get wrong."""
import pytest
import torch
from mmengine.config import Config

from swin_mm import ConfigError
from swin_mm.data import generate_toy_ade, generate_toy_coco
from swin_mm.serialization import CheckpointError, atomic_save
from tests.helpers.tools import config_path, load_tool

DET = config_path('toy/mask_rcnn_swin_t_toy.py')
SEG = config_path('toy/upernet_swin_t_toy.py')
KEEP_BOXES = ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0']


def _checkpoint(config, path):
    from tests.configs.test_configs import _build
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    atomic_save({'state_dict': _build(cfg).state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp('det')
    root = generate_toy_coco(str(folder / 'coco'), num_train=1, num_val=1, size=(96, 128))
    return _checkpoint(DET, folder / 'det.pth'), f'{root}/val2017/000000.jpg'


def test_detector_pictures(tmp_path, detector):
    from PIL import Image
    checkpoint, image = detector
    report = load_tool('visualize').main([DET, checkpoint, image, '--out', str(tmp_path),
                                          *KEEP_BOXES])
    names = [p.rsplit('/', 1)[1] for p in report['pngs']]
    assert names == ['features.png', 'windows.png', 'attention.png', 'cam.png']
    for path, size in zip(report['pngs'], [(1280, 640), (900, 450), (1920, 640), (1350, 450)]):
        picture = Image.open(path).convert('RGB')
        assert picture.size == size, path
        assert torch.tensor(list(picture.getdata()), dtype=torch.float32).std() > 10, path
    page = (tmp_path / 'index.html').read_text()
    assert all(f'<img src="{n}"' in page for n in names) and '% inside the box' in page
    kind, index, box = report['target']
    assert (kind, index) == ('box', 0) and len(box) == 4
    amap = report['attention']
    torch.testing.assert_close(amap.probabilities.sum(-1), torch.ones(6))  # stage 1: 6 heads


def test_segmentor_pictures(tmp_path):
    root = generate_toy_ade(str(tmp_path / 'ade'), num_train=1, num_val=1, size=(96, 128))
    checkpoint = _checkpoint(SEG, tmp_path / 'seg.pth')
    image = f'{root}/images/validation/000000.jpg'
    report = load_tool('visualize').main([SEG, checkpoint, image, '--out', str(tmp_path / 'v'),
                                          '--what', 'cam,windows', '--stage', '2',
                                          '--target-class', '3'])
    assert report['target'] == ('class', 3, None)
    assert [p.rsplit('/', 1)[1] for p in report['pngs']] == ['windows.png', 'cam.png']


def test_errors_are_clear(tmp_path, detector):
    tool = load_tool('visualize')
    checkpoint, image = detector
    resnet = tmp_path / 'r50.py'
    resnet.write_text("_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'\n")
    with pytest.raises(ConfigError, match=r"backbone.type is 'ResNet'"):  # before the weights
        tool.main([str(resnet), str(tmp_path / 'missing.pth'), image])
    with pytest.raises(IndexError, match=r'--target-box 1000: the detector predicted \d+ boxes'):
        tool.main([DET, checkpoint, image, '--out', str(tmp_path), '--target-box', '1000',
                   *KEEP_BOXES])
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not an image')
    with pytest.raises(ValueError, match=r'broken\.jpg does not decode as an image'):
        tool.main([DET, checkpoint, str(broken), '--out', str(tmp_path)])
    with pytest.raises(FileNotFoundError, match=r'image not found: .*nowhere\.jpg'):
        tool.main([DET, checkpoint, str(tmp_path / 'nowhere.jpg'), '--out', str(tmp_path)])
    with pytest.raises(CheckpointError, match=r'lacks \d+ of its tensors'):
        tool.main([DET, checkpoint, image, '--out', str(tmp_path), '--cfg-options',
                   'model.backbone.depths=[2,2,8,2]'])
    with pytest.raises(SystemExit):
        tool.main([DET, checkpoint, image, '--what', 'features,colours'])
    with pytest.raises(SystemExit, match='--target-class is for segmentors'):
        tool.main([DET, checkpoint, image, '--out', str(tmp_path), '--target-class', '1'])
