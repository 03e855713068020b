"""Draw the home-screen icons of backend/static/manifest.webmanifest (run once, commit the PNGs):
a white road bending up to a pin on Ritbox blue. Pillow is there as a dependency of the report
renderers; the app itself only serves the files."""
from pathlib import Path

from PIL import Image, ImageDraw

BLUE, WHITE = (11, 83, 148, 255), (255, 255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "backend" / "static" / "icons"


def icon(size: int, maskable: bool = False) -> Image.Image:
    scale = 4  # drawn large, scaled down: smooth edges without anti-aliasing support in ImageDraw
    big = size * scale
    image = Image.new("RGBA", (big, big), BLUE if maskable else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    inset = big * (0.1 if maskable else 0)  # a maskable icon keeps its drawing in the safe circle
    if not maskable:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=BLUE)
    box = big - 2 * inset

    def at(x: float, y: float) -> tuple[float, float]:
        return inset + x * box, inset + y * box

    road = [at(0.22, 0.86), at(0.36, 0.62), at(0.58, 0.56), at(0.66, 0.40)]
    draw.line(road, fill=WHITE, width=int(box * 0.09), joint="curve")
    cx, cy = at(0.66, 0.30)
    r = box * 0.14
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    draw.polygon([(cx - r * 0.75, cy + r * 0.6), (cx + r * 0.75, cy + r * 0.6), at(0.66, 0.52)], fill=WHITE)
    draw.ellipse((cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45), fill=BLUE)
    return image.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for size in (180, 192, 512):
        icon(size).save(OUT / f"ritbox-{size}.png", optimize=True)
    icon(512, maskable=True).save(OUT / "ritbox-maskable-512.png", optimize=True)
