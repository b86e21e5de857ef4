"""The network IR: graph, neuron models, builders and the native model format."""

from .builders import BUILDERS, resnet18, small_convnet, small_resnet, vgg16
from .graph import (Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Graph, Input, Linear, MaxPool2d,
                    Neuron, NODE_TYPES)
from .io import load_model, read_manifest, save_model
from .neurons import NeuronSpec, barrier, binary_if, lif, multilevel_if, s3nn

__all__ = ["Add", "AvgPool2d", "BatchNorm", "BUILDERS", "Conv2d", "Flatten", "Graph", "Input",
           "Linear", "MaxPool2d", "Neuron", "NeuronSpec", "NODE_TYPES", "barrier", "binary_if",
           "lif", "load_model", "multilevel_if", "read_manifest", "resnet18", "s3nn",
           "save_model", "small_convnet", "small_resnet", "vgg16"]
