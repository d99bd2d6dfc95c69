"""Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391) for the package's Keras models, on
every backend: where in the image the evidence for the predicted class lies.

The network is cut at a convolutional layer into ``features`` (image -> activations A,
(N, h, w, c)) and ``head`` (A -> the inputs of the classifier layer). The class score is
the classifier's logit, computed from those inputs with keras.ops (probabilities saturate,
logits do not); its gradient with respect to A comes from the backend's own autodiff.
"""

from dataclasses import dataclass

import cv2
import keras
import numpy as np
from keras import ops

from fungiclf.errors import FungiclfError
from fungiclf.models import network_of
from fungiclf.models.blocks import CLASSIFIER, CONVOLUTIONS


def call_output(layer):
    """The tensor ``layer`` produced where the network called it. For a nested model (a
    Keras Applications backbone) ``layer.output`` is its own inner output instead, so this
    reads the generic Operation property, which follows the call in the outer graph."""
    return keras.Operation.output.fget(layer)


def _rank4(layer) -> bool:
    try:
        return len(call_output(layer).shape) == 4
    except (AttributeError, ValueError):
        return False


@dataclass
class CamModel:
    """A network cut for Grad-CAM at ``layer`` (see the module docstring)."""

    layer: str
    features: keras.Model
    head: keras.Model
    kernel: object  # the classifier's (units, K) kernel
    bias: object  # its (K,) bias
    sigmoid: bool


def cam_model(model: keras.Model, layer_name: str | None = None) -> CamModel:
    """Cut ``model`` at ``layer_name`` or, by default, at its last convolution (a nested
    backbone counts as one); when the cut leaves a shortcut around it (residual blocks),
    at the last layer with a 4-D output instead.

    Raises FungiclfError for a model without convolutions or an unknown layer name.
    """
    network = network_of(model)
    try:
        classifier = network.get_layer(CLASSIFIER)
    except ValueError:
        raise FungiclfError(f"model {network.name!r} has no {CLASSIFIER!r} layer: not a fungiclf model") from None
    layers = network.layers
    if layer_name is not None:
        named = [layer for layer in layers if layer.name == layer_name]
        if not named or not _rank4(named[0]):
            choices = [layer.name for layer in layers if _rank4(layer)][1:]
            raise FungiclfError(
                f"--layer {layer_name!r} is not a layer of {network.name!r} with a spatial output; "
                f"choose one of {choices}"
            )
        candidates = named
    else:
        convolutional = [
            layer
            for layer in layers
            if isinstance(layer, CONVOLUTIONS) or (isinstance(layer, keras.Model) and _rank4(layer))
        ]
        if not convolutional:
            raise FungiclfError(
                f"model {network.name!r} has no convolutional layer: Grad-CAM needs one "
                f"(dense models such as ann or linear have no spatial map to explain)"
            )
        last_spatial = [layer for layer in layers if _rank4(layer)][-1]
        candidates = [convolutional[-1], last_spatial]
    for layer in candidates:
        try:
            head = keras.Model(call_output(layer), classifier.input, name="cam_head")
        except ValueError:  # a shortcut bypasses this layer: the head would need the image too
            continue
        features = keras.Model(network.inputs[0], call_output(layer), name="cam_features")
        sigmoid = int(classifier.units) == 1
        return CamModel(layer.name, features, head, classifier.kernel, classifier.bias, sigmoid)
    raise FungiclfError(
        f"model {network.name!r} cannot be cut at {candidates[0].name!r}: pass --layer with a layer "
        f"whose output feeds everything after it"
    )


def _scores(cam: CamModel, activations, classes: np.ndarray):
    """Sum over the batch of each image's logit for its class (the negated logit for class
    0 of a sigmoid head)."""
    hidden = cam.head(activations, training=False)
    logits = ops.matmul(hidden, cam.kernel) + cam.bias
    if cam.sigmoid:
        sign = ops.convert_to_tensor(np.where(classes == 1, 1.0, -1.0).astype("float32"))
        return ops.sum(logits[:, 0] * sign)
    mask = ops.convert_to_tensor(np.eye(logits.shape[-1], dtype="float32")[classes])
    return ops.sum(logits * mask)


def class_gradients(cam: CamModel, activations: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d(class logit) / d(activations), (N, h, w, c), with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # the TensorFlow backend is loaded already

        tensor = tf.convert_to_tensor(activations)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            score = _scores(cam, tensor, classes)
        return np.asarray(tape.gradient(score, tensor))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda a: _scores(cam, a, classes))(jax.numpy.asarray(activations)))
    if backend == "torch":
        import torch

        device = cam.kernel.value.device  # where the model's weights live
        tensor = torch.tensor(activations, requires_grad=True, device=device)
        _scores(cam, tensor, classes).backward()
        return tensor.grad.detach().cpu().numpy()
    raise FungiclfError(f"Grad-CAM does not support the {backend!r} backend")


def grad_cam(cam: CamModel, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Heat maps of ``classes`` for a batch of images.

    Args:
        images: (N, H, W, C) uint8 model input.
        classes: (N,) class index to explain per image (usually the predicted one).
    Returns:
        (N, H, W) float32 in [0, 1] (each map divided by its maximum; all zero when no
        location speaks for the class).
    """
    activations = ops.convert_to_numpy(cam.features(images.astype(np.float32), training=False)).astype(np.float32)
    gradients = class_gradients(cam, activations, np.asarray(classes))
    weights = gradients.mean(axis=(1, 2), keepdims=True)  # one weight per channel
    maps = np.maximum((weights * activations).sum(-1), 0.0)  # (N, h, w)
    height, width = images.shape[1:3]
    out = np.zeros((len(images), height, width), np.float32)
    for i, heat in enumerate(maps):
        resized = cv2.resize(heat.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        peak = resized.max()
        out[i] = resized / peak if peak > 0 else resized
    return out
