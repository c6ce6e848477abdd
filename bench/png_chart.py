"""Horizontal bar charts as PNG files, with Python's standard library only
(zlib + struct): no plotting package to install on a replica host.

    chart = BarChart(width=900)
    chart.panel("MESSAGES/S (HIGHER IS BETTER)", [("CYRUS SYNC_SERVER", 760.0), ...])
    chart.save("results/chart.png")

Text is drawn with a built-in 5x7 pixel font (upper case, digits and a few
signs; lower case is drawn as upper case), scaled 2x.
"""
import struct
import zlib

# 5x7 glyphs, one string per row, '#' = ink.
_GLYPHS = {
    "A": (" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "B": ("#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "),
    "C": (" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "),
    "D": ("#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "),
    "E": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"),
    "F": ("#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "),
    "G": (" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"),
    "H": ("#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "I": (" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "J": ("  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "),
    "K": ("#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"),
    "L": ("#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"),
    "M": ("#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"),
    "N": ("#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"),
    "O": (" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "P": ("#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "),
    "Q": (" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"),
    "R": ("#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"),
    "S": (" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "),
    "T": ("#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "),
    "U": ("#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "),
    "V": ("#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "),
    "W": ("#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "),
    "X": ("#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"),
    "Y": ("#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "),
    "Z": ("#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"),
    "0": (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    "1": ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    "2": (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    "3": ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    "4": ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    "5": ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    "6": ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    "7": ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    "8": (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    "9": (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
    ".": ("     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "),
    ",": ("     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "),
    ":": ("     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "),
    "-": ("     ", "     ", "     ", "#####", "     ", "     ", "     "),
    "_": ("     ", "     ", "     ", "     ", "     ", "     ", "#####"),
    "/": ("    #", "    #", "   # ", "  #  ", " #   ", "#    ", "#    "),
    "(": ("   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "),
    ")": (" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "),
    "%": ("##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"),
    "X*": ("     ", "#   #", " # # ", "  #  ", " # # ", "#   #", "     "),
    "=": ("     ", "     ", "#####", "     ", "#####", "     ", "     "),
    "<": ("   # ", "  #  ", " #   ", "#    ", " #   ", "  #  ", "   # "),
    ">": (" #   ", "  #  ", "   # ", "    #", "   # ", "  #  ", " #   "),
    "~": ("     ", "     ", " #   ", "# # #", "   # ", "     ", "     "),
    "+": ("     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "),
    " ": ("     ",) * 7,
}
_UNKNOWN = ("#####", "#   #", "#   #", "#   #", "#   #", "#   #", "#####")

SCALE = 2
CHAR_W = 6 * SCALE     # 5 columns and one of spacing
CHAR_H = 7 * SCALE
LINE_H = CHAR_H + 6

WHITE = (255, 255, 255)
BLACK = (20, 20, 20)
GREY = (200, 200, 200)
# One colour per bar, in order; Cyrus targets are told apart by name.
PALETTE = [(70, 110, 180), (230, 140, 40), (60, 160, 90), (200, 70, 70), (140, 100, 180),
           (120, 120, 120), (30, 170, 190), (190, 170, 40)]


class Canvas:
    def __init__(self, width, height, background=WHITE):
        self.width = width
        self.height = height
        self.rows = [bytearray(bytes(background) * width) for _ in range(height)]

    def rect(self, x0, y0, x1, y1, colour):
        x0, x1 = max(0, int(x0)), min(self.width, int(x1))
        y0, y1 = max(0, int(y0)), min(self.height, int(y1))
        if x1 <= x0:
            return
        span = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            self.rows[y][x0 * 3:x1 * 3] = span

    def text(self, x, y, string, colour=BLACK):
        """Draws `string` with its top-left corner at (x, y); returns its width."""
        for i, ch in enumerate(string):
            glyph = _GLYPHS.get(ch.upper(), _UNKNOWN if ch.strip() else _GLYPHS[" "])
            if ch == "x":
                glyph = _GLYPHS["X*"]   # a multiplication sign reads better than an X
            cx = x + i * CHAR_W
            for gy, row in enumerate(glyph):
                for gx, cell in enumerate(row):
                    if cell == "#":
                        self.rect(cx + gx * SCALE, y + gy * SCALE,
                                  cx + (gx + 1) * SCALE, y + (gy + 1) * SCALE, colour)
        return len(string) * CHAR_W

    def png(self):
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)   # filter 0 per line

        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _format_value(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


class BarChart:
    """Panels of horizontal bars stacked vertically, one title each."""

    def __init__(self, width=960, title=None, footnote=None):
        self.width = width
        self.title = title
        self.footnote = footnote
        self.panels = []

    def panel(self, title, bars):
        """bars: [(label, value)]; values >= 0."""
        self.panels.append((title, [(label, max(0.0, float(value))) for label, value in bars]))

    def render(self):
        bar_h, gap, margin = 22, 8, 16
        label_w = max([len(label) for _, bars in self.panels for label, _ in bars] + [4]) * CHAR_W + 12
        height = margin
        if self.title:
            height += LINE_H + 8
        for _, bars in self.panels:
            height += LINE_H + len(bars) * (bar_h + gap) + margin
        if self.footnote:
            height += LINE_H
        canvas = Canvas(self.width, height + margin)
        y = margin
        if self.title:
            canvas.text(margin, y, self.title)
            y += LINE_H + 8
        value_w = 10 * CHAR_W
        plot_x0 = margin + label_w
        plot_w = self.width - plot_x0 - margin - value_w
        for title, bars in self.panels:
            canvas.text(margin, y, title)
            y += LINE_H
            top = max([v for _, v in bars] + [1e-9])
            canvas.rect(plot_x0 - 1, y - 2, plot_x0, y + len(bars) * (bar_h + gap), GREY)
            for i, (label, value) in enumerate(bars):
                colour = PALETTE[i % len(PALETTE)]
                canvas.text(margin, y + (bar_h - CHAR_H) // 2, label)
                length = int(plot_w * value / top)
                canvas.rect(plot_x0, y, plot_x0 + max(length, 1), y + bar_h, colour)
                canvas.text(plot_x0 + length + 6, y + (bar_h - CHAR_H) // 2, _format_value(value))
                y += bar_h + gap
            y += margin
        if self.footnote:
            canvas.text(margin, y, self.footnote, (90, 90, 90))
        return canvas.png()

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.render())
