"""Static displays of every component: inline-styled HTML and SVG that read the same in JupyterLab, nbconvert,
nbviewer and on GitHub. Part of the core: it imports nothing from IPython or the notebook layer, so the core
classes' `_repr_html_` methods can use it, and the notebook layer builds its views and widget snapshots on it."""
