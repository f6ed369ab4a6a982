"""An exported model run by onnxruntime inside MMEngine's test loop, so that tools/test.py scores
an ONNX file with the config's dataset and metrics exactly as it scores a checkpoint.

The graph covers the network and its post-processing; what MMDetection and MMSegmentation do
after their models (boxes back to the original image, masks pasted into it, logits resized to
it) is theirs, called here.
"""
from __future__ import annotations

import os
from typing import List

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.registry import MODELS

from .onnx_export import onnxruntime_session

__all__ = ['OnnxRuntimeModel', 'onnx_outputs', 'detection_instances']

#: the output names of each exported graph (tools/export.py)
GRAPH_OUTPUTS = {('logits', 'labels'): 'segmentor', ('dets', 'labels'): 'detector',
                 ('dets', 'labels', 'masks'): 'detector'}


def onnx_outputs(path: str) -> List[str]:
    """The output names of an ONNX file, read without running it."""
    import onnx
    return [o.name for o in onnx.load(path, load_external_data=False).graph.output]


@MODELS.register_module(force=True)
class OnnxRuntimeModel(BaseModel):
    """Runs an ONNX file of tools/export.py, one image at a time (each at its own size, as
    the graph takes any size), and returns MMDetection's or MMSegmentation's data samples.

    Args:
        onnx_file: a whole detector or segmentor export.
        task: 'mmdet' or 'mmseg' (the config's scope).
        mask_thr_binary: Mask R-CNN's mask threshold (the config's ``rcnn.mask_thr_binary``).
        align_corners: the segmentor's resize rule (the decode head's ``align_corners``).
        threads: onnxruntime intra-op threads (0: its default).
        data_preprocessor: ignored (the Runner passes the config's; it is in the graph).
    """

    def __init__(self, onnx_file: str, task: str, mask_thr_binary: float = 0.5,
                 align_corners: bool = False, threads: int = 0,
                 data_preprocessor: object = None) -> None:
        super().__init__()  # the graph normalises: MMEngine's data_preprocessor is not used
        if not os.path.isfile(onnx_file):
            raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
        outputs = tuple(onnx_outputs(onnx_file))
        kind = GRAPH_OUTPUTS.get(outputs)
        expected = 'segmentor' if task == 'mmseg' else 'detector'
        if kind != expected:
            raise ValueError(f'{onnx_file} returns {", ".join(outputs)}: not a whole {expected} '
                             f'export of tools/export.py (a --backbone-only file cannot be '
                             f'evaluated)')
        self.session = onnxruntime_session(onnx_file, threads)
        self.task = task
        self.mask_thr_binary = mask_thr_binary
        self.align_corners = align_corners

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        if mode != 'predict':
            raise ValueError(f'an ONNX model only predicts; got mode={mode!r}')
        return self.predict(inputs, data_samples)

    def test_step(self, data: dict) -> list:
        return self.predict(data['inputs'], data['data_samples'])

    val_step = test_step

    def predict(self, inputs: List[torch.Tensor], data_samples: list) -> list:
        """inputs: (3, H, W) uint8 images as the test pipeline packs them."""
        results = []
        for image, sample in zip(inputs, data_samples):
            outputs = self.session.run(None, {'image': image[None].numpy()})
            outputs = [torch.from_numpy(np.ascontiguousarray(o)) for o in outputs]
            if self.task == 'mmseg':
                results.append(self._segmentation(outputs, sample))
            else:
                results.append(self._detection(outputs, sample))
        return results

    def _segmentation(self, outputs: List[torch.Tensor], sample):
        from mmseg.models.segmentors.base import BaseSegmentor
        # MMSegmentation's own step: padding removed, logits resized to the original image
        return BaseSegmentor.postprocess_result(self, outputs[0], [sample])[0]

    def _detection(self, outputs: List[torch.Tensor], sample):
        from mmdet.models.utils import samplelist_boxtype2tensor
        samplelist_boxtype2tensor([sample])  # ground truth as plain tensors, as its preprocessor
        sample.pred_instances = detection_instances(outputs, sample.metainfo,
                                                    self.mask_thr_binary)
        return sample


def detection_instances(outputs: List[torch.Tensor], metainfo: dict,
                        mask_thr_binary: float = 0.5):
    """A detector graph's outputs for one image -> MMDetection's ``pred_instances`` in original
    image pixels: empty slots dropped, boxes divided by the scale factor, masks pasted into the
    original image (MMDetection's ``_do_paste_mask``) and thresholded.

    Args:
        outputs: ``dets`` (1, k, 5), ``labels`` (1, k) [, ``masks`` (1, k, M, M)].
        metainfo: the data sample's (``scale_factor``, ``ori_shape``).
    """
    from mmengine.structures import InstanceData
    dets, labels = outputs[0][0], outputs[1][0]
    keep = dets[:, 4] > 0
    dets, labels = dets[keep], labels[keep]
    scale = dets.new_tensor(metainfo['scale_factor']).repeat(2)
    instances = InstanceData(bboxes=dets[:, :4] / scale, scores=dets[:, 4], labels=labels)
    if len(outputs) == 3:
        from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
        height, width = metainfo['ori_shape'][:2]
        masks = outputs[2][0][keep]
        if len(masks):
            pasted, _ = _do_paste_mask(masks[:, None], instances.bboxes, height, width,
                                       skip_empty=False)
            instances.masks = pasted >= mask_thr_binary
        else:
            instances.masks = torch.zeros((0, height, width), dtype=torch.bool)
    return instances
