"""Deterministic, realistic catalogue, users and social posts for the demo shop.

Everything is generated from one seed with :class:`random.Random`; no files are read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_SEED = 42
PASSWORD = "secret"  # noqa: S105 - the demo's published password, not a secret
"""Every demo user's password."""

# Category slug, display name, price range in cents, nouns sold in it.
_CATEGORIES: tuple[tuple[str, str, int, int, str], ...] = (
    ("audio", "Audio", 1_500, 45_000, "Headphones Earbuds Speaker Soundbar Turntable"),
    ("computers", "Computers", 1_200, 250_000, "Laptop Monitor Keyboard Mouse Webcam"),
    ("phones", "Phones", 900, 140_000, "Smartphone Charger Powerbank Cable Stylus"),
    ("cameras", "Cameras", 2_500, 180_000, "Camera Lens Tripod Drone Gimbal"),
    ("kitchen", "Kitchen", 900, 35_000, "Blender Kettle Toaster Skillet Knife"),
    ("home", "Home & Living", 700, 25_000, "Lamp Rug Cushion Blanket Vase"),
    ("furniture", "Furniture", 4_000, 150_000, "Chair Desk Sofa Bookshelf Stool"),
    ("garden", "Garden", 600, 20_000, "Hose Planter Shovel Sprinkler Lantern"),
    ("clothing", "Clothing", 1_200, 30_000, "Jacket Hoodie Shirt Sweater Scarf"),
    ("shoes", "Shoes", 2_500, 28_000, "Sneakers Boots Sandals Loafers Slippers"),
    ("bags", "Bags & Travel", 1_500, 40_000, "Backpack Tote Wallet Duffel Suitcase"),
    ("accessories", "Accessories", 900, 90_000, "Watch Bracelet Necklace Ring Sunglasses"),
    ("beauty", "Beauty", 500, 12_000, "Serum Moisturizer Shampoo Perfume Lipstick"),
    ("sports", "Sports", 1_000, 120_000, "Mat Dumbbell Racket Helmet Bicycle"),
    ("outdoor", "Outdoor", 1_200, 60_000, "Tent Hammock Compass Canteen Flashlight"),
    ("toys", "Toys", 500, 15_000, "Puzzle Robot Kite Blocks Plush"),
    ("stationery", "Books & Stationery", 300, 6_000, "Notebook Journal Cookbook Novel Planner"),
    ("gaming", "Gaming", 1_500, 70_000, "Controller Headset Console Joystick Mousepad"),
    ("pets", "Pets", 400, 18_000, "Leash Collar Bowl Kennel Scratcher"),
    ("coffee", "Coffee & Tea", 400, 90_000, "Beans Tea Grinder Mug Teapot"),
)

_ADJECTIVES = (
    "Classic", "Vintage", "Modern", "Ultra", "Compact", "Portable", "Wireless", "Smart",
    "Premium", "Eco", "Rugged", "Slim", "Deluxe", "Pro", "Lightweight", "Ergonomic",
    "Handcrafted", "Organic", "Waterproof", "Minimalist", "Urban", "Nordic", "Retro",
    "Essential", "Signature", "Advanced", "Cozy", "Bold", "Silent", "Turbo",
)  # fmt: skip

_BRANDS = (
    "Acme", "Nordhaus", "Lumen", "Vertex", "Kestrel", "Orbis", "Pinecrest", "Solace",
    "Zephyr", "Halcyon", "Brightwave", "Copperline", "Ironwood", "Bluefin", "Redleaf",
    "Northstar", "Aurora", "Summit", "Fable", "Tidewater", "Quill", "Meridian", "Oakridge",
    "Saltmarsh", "Velvetine",
)  # fmt: skip

_FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara",
    "Uma", "Victor", "Wen", "Yusuf", "Zoe",
)  # fmt: skip

_LAST_NAMES = (
    "Andersen", "Baptiste", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quintero", "Rossi", "Schmidt", "Tanaka",
)  # fmt: skip

_OPENINGS = (
    "Just got the {name}.", "Finally tried the {name}.", "Three weeks with the {name}.",
    "Gift idea: the {name}.", "Unboxing the {name} today.", "My honest take on the {name}.",
)  # fmt: skip

_OPINIONS = (
    "Totally worth it!", "Solid quality for the price.", "Shipping was fast too.",
    "Not sure about the colour, but it works great.", "Would buy again.",
    "A bit pricey, still recommend it.", "Exceeded my expectations.",
    "Does exactly what it says.", "My friends keep asking where I got it.",
)  # fmt: skip

_FEED_EPOCH = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Category:
    """A product category."""

    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue item; prices are kept in cents to avoid float rounding."""

    id: int
    name: str
    brand: str
    category: str
    price_cents: int
    stock: int
    rating: float
    reviews: int
    description: str

    @property
    def price(self) -> float:
        """Price in currency units with two decimals."""
        return self.price_cents / 100


@dataclass(frozen=True, slots=True)
class User:
    """A shop customer; every password is :data:`PASSWORD`."""

    id: int
    username: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Post:
    """A social post about a product; ``likes`` is the initial count."""

    id: int
    user_id: int
    author: str
    product_id: int
    text: str
    likes: int
    created_at: str


@dataclass(frozen=True, slots=True)
class ShopData:
    """The generated data set with lookup tables."""

    seed: int
    categories: tuple[Category, ...]
    products: tuple[Product, ...]
    users: tuple[User, ...]
    posts: tuple[Post, ...]
    products_by_id: dict[int, Product] = field(init=False, repr=False, compare=False)
    users_by_name: dict[str, User] = field(init=False, repr=False, compare=False)
    posts_by_id: dict[int, Post] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: derived lookups are set through object.__setattr__.
        object.__setattr__(self, "products_by_id", {p.id: p for p in self.products})
        object.__setattr__(self, "users_by_name", {u.username: u for u in self.users})
        object.__setattr__(self, "posts_by_id", {p.id: p for p in self.posts})


def generate_shop_data(
    seed: int = DEFAULT_SEED, *, products: int = 2_000, users: int = 500, posts: int = 1_000
) -> ShopData:
    """Build the whole data set from ``seed``; equal seeds give equal data."""
    rng = random.Random(seed)
    categories = tuple(
        Category(id=i, slug=slug, name=name) for i, (slug, name, *_) in enumerate(_CATEGORIES, 1)
    )
    catalogue = _products(rng, products)
    people = _users(rng, users)
    feed = _posts(rng, posts, people, catalogue)
    return ShopData(seed, categories, catalogue, people, feed)


def _products(rng: random.Random, count: int) -> tuple[Product, ...]:
    combinations = len(_ADJECTIVES) * len(_BRANDS) * sum(len(c[4].split()) for c in _CATEGORIES)
    if count > combinations:
        raise ValueError(f"at most {combinations} distinct products, not {count}")
    seen: set[str] = set()
    result: list[Product] = []
    while len(result) < count:
        slug, _, low, high, nouns = rng.choice(_CATEGORIES)
        adjective, noun = rng.choice(_ADJECTIVES), rng.choice(nouns.split())
        brand = rng.choice(_BRANDS)
        name = f"{brand} {adjective} {noun}"
        if name in seen:
            continue
        seen.add(name)
        # Prices end in .99 or .49 like real shelves do.
        price = rng.randrange(low, high) // 100 * 100 + rng.choice((99, 49))
        result.append(
            Product(
                id=len(result) + 1,
                name=name,
                brand=brand,
                category=slug,
                price_cents=price,
                stock=rng.randint(5, 500),
                rating=round(rng.uniform(2.5, 5.0), 1),
                reviews=rng.randint(0, 2_500),
                description=(
                    f"The {adjective.lower()} {noun.lower()} by {brand}. {rng.choice(_OPINIONS)}"
                ),
            )
        )
    return tuple(result)


def _users(rng: random.Random, count: int) -> tuple[User, ...]:
    return tuple(
        User(
            id=i,
            username=f"user{i:04d}",
            password=PASSWORD,
            display_name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
        )
        for i in range(1, count + 1)
    )


def _posts(
    rng: random.Random, count: int, users: tuple[User, ...], products: tuple[Product, ...]
) -> tuple[Post, ...]:
    result: list[Post] = []
    when = _FEED_EPOCH
    for i in range(1, count + 1):
        author, product = rng.choice(users), rng.choice(products)
        when += timedelta(minutes=rng.randint(1, 90))
        text = f"{rng.choice(_OPENINGS).format(name=product.name)} {rng.choice(_OPINIONS)}"
        result.append(
            Post(
                id=i,
                user_id=author.id,
                author=author.username,
                product_id=product.id,
                text=text,
                likes=min(int(rng.paretovariate(1.1) * 3) - 3, 5_000),
                created_at=when.isoformat().replace("+00:00", "Z"),
            )
        )
    return tuple(result)
