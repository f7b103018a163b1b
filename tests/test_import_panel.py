"""The import panel suggests a data set from the checkpoint's name and never picks one silently."""
from explorer.ui.import_panel import suggest_data


def test_the_file_name_suggests_the_data_set():
    assert suggest_data("resnet20-12fca82f.th") in ("cifar-zip", "cifar10")  # the common CIFAR ResNet release
    assert suggest_data("my_cifar10_resnet56.pt") in ("cifar-zip", "cifar10")
    assert suggest_data("digits-resnet8.safetensors") == "digits"
    assert suggest_data("weights.pt") is None and suggest_data("") is None
