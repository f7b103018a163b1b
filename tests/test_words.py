"""The app speaks the app's language (issue 30): the library's command-line advice becomes the buttons and
fields that do the same, torchvision's download=True advice is dropped, and paths keep their asterisks."""
from explorer.analysis.evaluation import CIFAR10_HOWTO
from explorer.data.cifar10 import CIFAR10_HELP
from explorer.ui.words import app_words, md_safe


def test_cli_advice_becomes_buttons_and_fields():
    text = app_words(CIFAR10_HELP.format(root="/data") + " (Dataset not found or corrupted. You can use download=True "
                                                         "to download it)")
    assert "python -m" not in text and "tick" not in text and "download=True" not in text
    assert "*Download CIFAR-10* button" in text
    assert "--data" not in app_words(CIFAR10_HOWTO) and "--data" not in app_words("it was trained on; pass --data.")


def test_paths_keep_their_asterisks_and_code_stays_code():
    assert md_safe("a folder with train/<class>/*.jpg") == "a folder with train/&lt;class>/\\*.jpg"
    assert md_safe("see `train/<class>/*.jpg` here") == "see `train/<class>/*.jpg` here"
    assert md_safe("cifar_10_jpeg.zip") == "cifar\\_10\\_jpeg.zip"
