"""The per-window-type operators behind :class:`~strom.windows.WindowedAggregation`.

``base`` (what time windows share: the watermark, closing, expiry, resuming from the store),
``fixed`` (tumbling and hopping), ``sliding``, ``sessions``, ``counting``, and ``index`` (the
ends of open windows, so that ``advance`` scans the store only when something closes).
"""
