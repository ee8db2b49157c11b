"""The demo shop: 28 products the project draws itself, with prices, aisles and pairings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from catalog.types import Product

from . import packaged as pk
from . import produce as pr


@dataclass(frozen=True)
class DemoProduct:
    """A catalog product and the function that draws it (BGRA, 400 × 400)."""

    product: Product
    draw: Callable[[], np.ndarray]


def _p(
    sku: str,
    name: str,
    price: float,
    category: str,
    aisle: str,
    description: str,
    related: tuple[str, ...],
    draw: Callable[[], np.ndarray],
) -> DemoProduct:
    return DemoProduct(
        Product(
            sku=sku,
            name=name,
            price=price,
            category=category,
            aisle=aisle,
            description=description,
            related=related,
            image_count=1,
        ),
        draw,
    )


BREAKFAST, DRINKS, DAIRY, PANTRY, SNACKS, HOUSEHOLD, PRODUCE = (
    "Breakfast",
    "Drinks",
    "Dairy",
    "Pantry",
    "Snacks",
    "Household",
    "Fruit & veg",
)

DEMO_PRODUCTS: tuple[DemoProduct, ...] = (
    _p(
        "DEMO-001",
        "Sunny Flakes",
        3.49,
        BREAKFAST,
        "Aisle 3",
        "Crispy golden corn flakes, 500 g.",
        ("DEMO-008", "DEMO-016"),
        partial(pk.box, "Sunny Flakes", (40, 200, 250), (20, 110, 230), (255, 255, 255), "sun"),
    ),
    _p(
        "DEMO-002",
        "Choco Crunch",
        3.99,
        BREAKFAST,
        "Aisle 3",
        "Chocolate rice crunchies, 375 g.",
        ("DEMO-008",),
        partial(pk.box, "Choco Crunch", (40, 70, 110), (170, 220, 245), (30, 40, 80), "checker"),
    ),
    _p(
        "DEMO-003",
        "Oat Harvest Granola",
        4.29,
        BREAKFAST,
        "Aisle 3",
        "Baked oat clusters with honey, 450 g.",
        ("DEMO-016", "DEMO-008"),
        partial(pk.box, "Oat Harvest", (90, 170, 90), (40, 90, 40), (230, 245, 250), "wheat"),
    ),
    _p(
        "DEMO-004",
        "Aqua Pure Water",
        0.89,
        DRINKS,
        "Aisle 1",
        "Still mineral water, 1.5 l.",
        ("DEMO-018",),
        partial(
            pk.bottle,
            "Aqua Pure",
            (245, 225, 190),
            (200, 110, 20),
            (230, 160, 40),
            (255, 255, 255),
            clear=True,
        ),
    ),
    _p(
        "DEMO-005",
        "Ruby Cola",
        1.19,
        DRINKS,
        "Aisle 1",
        "Classic cola, 330 ml can.",
        ("DEMO-013", "DEMO-014"),
        partial(pk.can, "Ruby Cola", (40, 30, 200), (245, 245, 245), (255, 255, 255)),
    ),
    _p(
        "DEMO-006",
        "Lime Fizz",
        1.19,
        DRINKS,
        "Aisle 1",
        "Sparkling lime soda, 330 ml can.",
        ("DEMO-013",),
        partial(pk.can, "Lime Fizz", (60, 200, 120), (40, 240, 250), (30, 70, 20)),
    ),
    _p(
        "DEMO-007",
        "Midnight Cold Brew",
        2.49,
        DRINKS,
        "Aisle 1",
        "Cold brew coffee, 250 ml can.",
        ("DEMO-002",),
        partial(pk.can, "Midnight Brew", (35, 30, 30), (60, 180, 220), (90, 200, 235), wave=False),
    ),
    _p(
        "DEMO-008",
        "Fresh Milk",
        1.09,
        DAIRY,
        "Chilled, aisle 6",
        "Whole milk, 1 l carton.",
        ("DEMO-001", "DEMO-002"),
        partial(pk.carton, "Fresh Milk", (250, 250, 250), (200, 90, 30), (255, 255, 255), "spots"),
    ),
    _p(
        "DEMO-009",
        "Sunrise Orange Juice",
        2.19,
        DRINKS,
        "Chilled, aisle 6",
        "Not from concentrate, 1 l carton.",
        ("DEMO-001",),
        partial(
            pk.carton, "Sunrise Juice", (30, 150, 250), (20, 90, 200), (255, 255, 255), "slice"
        ),
    ),
    _p(
        "DEMO-010",
        "Olive Gold Oil",
        6.99,
        PANTRY,
        "Aisle 4",
        "Extra virgin olive oil, 750 ml.",
        ("DEMO-011", "DEMO-023"),
        partial(
            pk.bottle,
            "Olive Gold",
            (40, 80, 30),
            (40, 170, 210),
            (120, 215, 240),
            (30, 60, 20),
            tall=True,
        ),
    ),
    _p(
        "DEMO-011",
        "Nonna's Passata",
        1.79,
        PANTRY,
        "Aisle 4",
        "Sieved tomatoes, 690 g jar.",
        ("DEMO-010", "DEMO-023"),
        partial(
            pk.jar, "Nonna's Passata", (30, 30, 190), (40, 120, 40), (235, 245, 250), (20, 20, 140)
        ),
    ),
    _p(
        "DEMO-012",
        "Berry Jam",
        2.59,
        PANTRY,
        "Aisle 4",
        "Mixed berry jam, 340 g jar.",
        ("DEMO-003",),
        partial(
            pk.jar,
            "Berry Jam",
            (90, 20, 100),
            (40, 40, 200),
            (240, 230, 250),
            (90, 20, 100),
            gingham=True,
        ),
    ),
    _p(
        "DEMO-013",
        "Sea Salt Crisps",
        1.99,
        SNACKS,
        "Aisle 5",
        "Sea salt potato crisps, 150 g.",
        ("DEMO-005", "DEMO-006"),
        partial(pk.bag, "Sea Salt Crisps", (190, 110, 30), (240, 220, 170), (255, 255, 255)),
    ),
    _p(
        "DEMO-014",
        "Paprika Crisps",
        1.99,
        SNACKS,
        "Aisle 5",
        "Smoky paprika crisps, 150 g.",
        ("DEMO-005",),
        partial(pk.bag, "Paprika Crisps", (30, 40, 200), (20, 130, 250), (250, 250, 250), "flames"),
    ),
    _p(
        "DEMO-015",
        "Lavender Hand Wash",
        2.29,
        HOUSEHOLD,
        "Aisle 8",
        "Liquid hand soap with lavender oil, 300 ml.",
        (),
        partial(
            pk.pump_bottle,
            "Lavender Wash",
            (200, 130, 170),
            (250, 250, 250),
            (120, 60, 110),
            (255, 255, 255),
        ),
    ),
    _p(
        "DEMO-016",
        "Bananas",
        1.29,
        PRODUCE,
        "Fresh produce",
        "Fairtrade bananas, per bunch.",
        ("DEMO-003", "DEMO-001"),
        pr.banana,
    ),
    _p(
        "DEMO-017",
        "Red Apple",
        0.45,
        PRODUCE,
        "Fresh produce",
        "Crisp red apple, each.",
        ("DEMO-020",),
        pr.apple,
    ),
    _p(
        "DEMO-018",
        "Lemon",
        0.39,
        PRODUCE,
        "Fresh produce",
        "Unwaxed lemon, each.",
        ("DEMO-004",),
        pr.lemon,
    ),
    _p(
        "DEMO-019",
        "Orange",
        0.49,
        PRODUCE,
        "Fresh produce",
        "Juicy navel orange, each.",
        ("DEMO-009",),
        pr.orange,
    ),
    _p(
        "DEMO-020",
        "Conference Pear",
        0.55,
        PRODUCE,
        "Fresh produce",
        "Sweet green pear, each.",
        ("DEMO-017",),
        pr.pear,
    ),
    _p(
        "DEMO-021",
        "Green Grapes",
        2.49,
        PRODUCE,
        "Fresh produce",
        "Seedless green grapes, 500 g.",
        (),
        pr.grapes,
    ),
    _p(
        "DEMO-022",
        "Carrots",
        0.99,
        PRODUCE,
        "Fresh produce",
        "Carrots, 1 kg bag.",
        ("DEMO-024",),
        pr.carrots,
    ),
    _p(
        "DEMO-023",
        "Cherry Vine Tomatoes",
        1.49,
        PRODUCE,
        "Fresh produce",
        "Cherry tomatoes on the vine, 250 g.",
        ("DEMO-011", "DEMO-010"),
        pr.vine_tomatoes,
    ),
    _p(
        "DEMO-024",
        "Broccoli",
        1.19,
        PRODUCE,
        "Fresh produce",
        "Broccoli head, each.",
        ("DEMO-022",),
        pr.broccoli,
    ),
    _p(
        "DEMO-025",
        "Aubergine",
        0.89,
        PRODUCE,
        "Fresh produce",
        "Aubergine, each.",
        ("DEMO-023",),
        pr.aubergine,
    ),
    _p(
        "DEMO-026",
        "Avocado",
        0.99,
        PRODUCE,
        "Fresh produce",
        "Ripe and ready avocado, each.",
        ("DEMO-018", "DEMO-023"),
        pr.avocado,
    ),
    _p(
        "DEMO-027",
        "Strawberries",
        2.99,
        PRODUCE,
        "Fresh produce",
        "Strawberries, 400 g punnet.",
        ("DEMO-012",),
        pr.strawberry,
    ),
    _p(
        "DEMO-028",
        "Pineapple",
        1.99,
        PRODUCE,
        "Fresh produce",
        "Sweet golden pineapple, each.",
        ("DEMO-019",),
        pr.pineapple,
    ),
)


def catalog_photo(item: DemoProduct, size: int = 320) -> np.ndarray:
    """The product on a white background, as a catalog photographer would shoot it (BGR)."""
    import cv2

    rgba = item.draw()
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    white = np.full_like(rgba[..., :3], 250)
    out = (rgba[..., :3] * alpha + white * (1 - alpha)).astype(np.uint8)
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
