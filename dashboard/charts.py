"""Small server-rendered SVG charts: the geometry is computed here, the template draws it."""

import math

from common.templatetags.adt_format import short_number

# Room around the plot for the y-axis values (left) and the hour labels (below).
LEFT, RIGHT, TOP, BOTTOM = 36, 6, 8, 22


def nice_ticks(peak, most=5):
    """Round axis values from 0 to at least `peak`: steps of 1, 2 or 5 times a power of ten."""
    peak = max(peak, 1)
    rough = peak / most
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    step = max(int(step), 1)
    top = math.ceil(peak / step) * step
    return list(range(0, top + 1, step))


def hourly_bars(buckets, width=360, height=170):
    """Stacked bars (completed below, failed above) for finished_per_hour()'s buckets,
    with a y-axis of round values, an hour label every six hours and a title per bar.

    The view box is small (360 wide), so that at a card's usual width the SVG is
    drawn at least at its own size and 12-unit labels stay ≥ 11 px on screen.
    """
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    peak = max([b["completed"] + b["failed"] for b in buckets] + [0])
    ticks = nice_ticks(peak)
    scale = plot_h / ticks[-1]
    base = TOP + plot_h
    slot = plot_w / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        completed = b["completed"] * scale
        failed = b["failed"] * scale
        x = LEFT + i * slot
        bars.append(
            {
                "x": round(x + 1, 1),
                "slot_x": round(x, 1),
                "slot": round(slot, 1),
                "width": round(max(slot - 2, 1), 1),
                "completed_y": round(base - completed, 1),
                "completed_height": round(completed, 1),
                "failed_y": round(base - completed - failed, 1),
                "failed_height": round(failed, 1),
                "start": b["start"],
                "completed": b["completed"],
                "failed": b["failed"],
                # An hour label under every sixth bar, centred on it.
                "label": b["start"].strftime("%H:00") if i % 6 == 0 else "",
                "label_x": round(x + slot / 2, 1),
            }
        )
    return {
        "width": width,
        "height": height,
        "left": LEFT,
        "right": width - RIGHT,
        "top": TOP,
        "base": base,
        "plot_height": plot_h,
        "label_y": base + 16,
        "peak": peak,
        "ticks": [{"value": short_number(t), "y": round(base - t * scale, 1), "label_y": round(base - t * scale + 4, 1)} for t in ticks],
        "bars": bars,
        "completed": sum(b["completed"] for b in buckets),
        "failed": sum(b["failed"] for b in buckets),
    }
