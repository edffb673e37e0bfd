"""Small server-rendered SVG charts: the geometry is computed here, the template draws it."""


def hourly_bars(buckets, width=600, height=120):
    """Stacked bars (completed below, failed above) for finished_per_hour()'s buckets."""
    peak = max([b["completed"] + b["failed"] for b in buckets] + [1])
    slot = width / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        completed = b["completed"] / peak * height
        failed = b["failed"] / peak * height
        bars.append(
            {
                "x": round(i * slot + 1, 1),
                "width": round(max(slot - 2, 1), 1),
                "completed_y": round(height - completed, 1),
                "completed_height": round(completed, 1),
                "failed_y": round(height - completed - failed, 1),
                "failed_height": round(failed, 1),
                "start": b["start"],
                "completed": b["completed"],
                "failed": b["failed"],
                # An hour label under every sixth bar.
                "label": b["start"].strftime("%H:00") if i % 6 == 0 else "",
                "label_x": round(i * slot + 1, 1),
            }
        )
    return {
        "width": width,
        "height": height,
        "peak": peak,
        "bars": bars,
        "completed": sum(b["completed"] for b in buckets),
        "failed": sum(b["failed"] for b in buckets),
    }
