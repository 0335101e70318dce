"""The explorer's views, in one registry: key, title, screen and help line.

The App's modes, its view bindings (ids "view.<mode>", so a keymap can remap
them and the tab bar shows the remapped key), the command palette's entries
and the help screen's list of views all derive from VIEWS. A new view is one
entry here and its screen module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    mode: str  # the App's mode name; the screen lives in tui_vae/tui/screens/<module>.py
    key: str  # default key (the keymap may change it)
    title: str
    module: str
    screen: str  # the Screen class's name in that module
    help: str  # one line for the help screen


VIEWS_IN_ORDER = (
    View("train", "t", "Train", "train", "TrainScreen",
         "settings, start/stop, live loss charts, previews after each epoch"),
    View("models", "m", "Models", "models", "ModelsScreen",
         "checkpoints: use one (enter), pick Compare's A and B, delete"),
    View("runs", "u", "Runs", "runs", "RunsScreen",
         "runs side by side: curves overlaid, the rate-distortion plane"),
    View("reconstruct", "r", "Reconstruct", "reconstruct", "ReconstructScreen",
         "test images beside their reconstructions; filter, rank by loss"),
    View("generate", "g", "Generate", "generate", "GenerateScreen",
         "samples from the prior; 0-9 choose the class (cVAE); +/- temperature"),
    View("interpolate", "i", "Interpolate", "interpolate", "InterpolateScreen",
         "the decoded path between two digits' latent codes; slerp; class sweep"),
    View("compare", "c", "Compare", "compare", "CompareScreen",
         "two checkpoints side by side: the VAE against the beta = 0 run"),
    View("latent", "l", "Latent", "latent", "LatentScreen",
         "the test set's latent means by class; a cursor decoded live; manifold"),
    View("traversal", "v", "Traversal", "traversal", "TraversalScreen",
         "one latent dimension at a time; KL per dimension and active units"),
    View("draw", "d", "Draw", "draw", "DrawScreen",
         "draw a digit: live reconstruction, its place on the map, every class"),
)

VIEWS = {view.mode: (view.key, view.title) for view in VIEWS_IN_ORDER}  # mode -> (key, title)
VIEW_BY_MODE = {view.mode: view for view in VIEWS_IN_ORDER}
