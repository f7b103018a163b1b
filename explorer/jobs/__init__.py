"""Work done away from the page: start or resume a training run (``runner``), the training job
queue (``queue``) and the background mechanism studies (``studies``)."""
