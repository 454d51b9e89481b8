"""How the Myntra catalogue's labels map onto our canonical values (for evaluation only).

The labels are ground truth for `evaluate_ontology`; extraction never reads them. A label that
maps to None (e.g. articleType "Free Gifts", baseColour "NA") has no canonical value and its rows
are left out of that attribute's score. The same table is in docs/ontology.md.
"""

from __future__ import annotations

GENDER = {"Men": "men", "Women": "women", "Unisex": "unisex", "Boys": "boys", "Girls": "girls"}

ARTICLE_TYPE = {
    "Tshirts": "t-shirt", "Lounge Tshirts": "t-shirt", "Shirts": "shirt", "Tops": "top", "Tunics": "tunic",
    "Camisoles": "camisole", "Sweatshirts": "sweatshirt", "Sweaters": "sweater", "Shrug": "shrug",
    "Innerwear Vests": "innerwear vest", "Jackets": "jacket", "Rain Jacket": "rain jacket",
    "Nehru Jackets": "nehru jacket", "Blazers": "blazer", "Waistcoat": "waistcoat", "Suits": "suit",
    "Tracksuits": "tracksuit", "Dresses": "dress", "Jumpsuit": "jumpsuit", "Rompers": "romper", "Jeans": "jeans",
    "Trousers": "trousers", "Rain Trousers": "trousers", "Track Pants": "track pants", "Shorts": "shorts",
    "Capris": "capris", "Leggings": "leggings", "Jeggings": "jeggings", "Skirts": "skirt",
    "Lounge Pants": "lounge pants", "Lounge Shorts": "lounge shorts", "Night suits": "night suit",
    "Nightdress": "nightdress", "Baby Dolls": "babydoll", "Bath Robe": "robe", "Robe": "robe", "Kurtas": "kurta",
    "Kurtis": "kurti", "Kurta Sets": "kurta set", "Sarees": "saree", "Dupatta": "dupatta",
    "Lehenga Choli": "lehenga", "Salwar": "salwar", "Salwar and Dupatta": "salwar", "Patiala": "patiala",
    "Churidar": "churidar", "Clothing Set": "clothing set", "Briefs": "briefs", "Trunk": "trunks",
    "Boxers": "boxers", "Bra": "bra", "Shapewear": "shapewear", "Stockings": "tights", "Tights": "tights",
    "Socks": "socks", "Swimwear": "swimwear", "Casual Shoes": "casual shoes", "Sports Shoes": "sports shoes",
    "Formal Shoes": "formal shoes", "Booties": "boots", "Heels": "heels", "Flats": "flats", "Sandals": "sandals",
    "Sports Sandals": "sports sandals", "Flip Flops": "flip flops", "Shoe Accessories": "shoe accessories",
    "Shoe Laces": "shoe accessories", "Handbags": "handbag", "Backpacks": "backpack", "Rucksacks": "backpack",
    "Clutches": "clutch", "Wallets": "wallet", "Laptop Bag": "laptop bag", "Duffel Bag": "duffel bag",
    "Messenger Bag": "messenger bag", "Mobile Pouch": "mobile pouch", "Waist Pouch": "waist pouch",
    "Trolley Bag": "trolley bag", "Tablet Sleeve": "tablet sleeve", "Belts": "belt", "Caps": "cap", "Hat": "hat",
    "Ties": "tie", "Cufflinks": "cufflinks", "Ties and Cufflinks": "cufflinks", "Scarves": "scarf",
    "Stoles": "stole", "Mufflers": "muffler", "Gloves": "gloves", "Sunglasses": "sunglasses",
    "Suspenders": "suspenders", "Headband": "headband", "Wristbands": "wristband", "Umbrellas": "umbrella",
    "Hair Accessory": "hair accessory", "Accessory Gift Set": "gift set", "Travel Accessory": "travel accessory",
    "Watches": "watch", "Earrings": "earrings", "Pendant": "pendant", "Necklace and Chains": "necklace",
    "Ring": "ring", "Bangle": "bangle", "Bracelet": "bracelet", "Jewellery Set": "jewellery set",
    "Lipstick": "lipstick", "Lip Gloss": "lip gloss", "Lip Liner": "lip liner", "Lip Care": "lip care",
    "Lip Plumper": "lip care", "Nail Polish": "nail polish", "Nail Essentials": "nail polish",
    "Kajal and Eyeliner": "eyeliner", "Eyeshadow": "eyeshadow", "Mascara": "mascara",
    "Foundation and Primer": "foundation", "Highlighter and Blush": "blush", "Compact": "compact",
    "Concealer": "concealer", "Face Moisturisers": "moisturiser", "Body Lotion": "moisturiser",
    "Sunscreen": "sunscreen", "Face Wash and Cleanser": "face wash", "Mask and Peel": "face mask",
    "Face Scrub and Exfoliator": "face scrub", "Toner": "toner", "Eye Cream": "eye cream",
    "Face Serum and Gel": "serum", "Makeup Remover": "makeup remover", "Hair Colour": "hair colour",
    "Beauty Accessory": "beauty accessory", "Perfume and Body Mist": "perfume", "Deodorant": "deodorant",
    "Fragrance Gift Set": "fragrance gift set", "Basketballs": "basketball", "Footballs": "football",
    "Water Bottle": "water bottle", "Free Gifts": None, "Ipad": None,
}  # fmt: skip

BASE_COLOUR = {
    "Black": "black", "White": "white", "Off White": "off white", "Cream": "cream", "Grey": "grey",
    "Grey Melange": "grey", "Charcoal": "charcoal", "Silver": "silver", "Steel": "steel", "Blue": "blue",
    "Navy Blue": "navy", "Teal": "teal", "Turquoise Blue": "turquoise", "Green": "green", "Sea Green": "green",
    "Lime Green": "green", "Fluorescent Green": "green", "Olive": "olive", "Red": "red", "Maroon": "maroon",
    "Burgundy": "burgundy", "Rust": "rust", "Orange": "orange", "Peach": "peach", "Pink": "pink", "Rose": "pink",
    "Magenta": "magenta", "Purple": "purple", "Lavender": "lavender", "Mauve": "mauve", "Yellow": "yellow",
    "Mustard": "mustard", "Gold": "gold", "Brown": "brown", "Coffee Brown": "brown", "Mushroom Brown": "brown",
    "Tan": "tan", "Beige": "beige", "Khaki": "khaki", "Taupe": "taupe", "Nude": "nude", "Skin": "nude",
    "Bronze": "bronze", "Copper": "copper", "Metallic": "metallic", "Multi": "multi", "NA": None,
}  # fmt: skip

USAGE = {
    "Casual": "casual", "Smart Casual": "casual", "Sports": "sports", "Ethnic": "ethnic", "Formal": "formal",
    "Party": "party", "Travel": "travel", "Home": "lounge", "NA": None,
}  # fmt: skip

SEASON = {"Summer": "summer", "Fall": "fall", "Winter": "winter", "Spring": "spring"}

# Our attribute -> (Myntra column, label mapping).
LABELS: dict[str, tuple[str, dict[str, str | None]]] = {
    "gender": ("gender", GENDER),  # type: ignore[dict-item]
    "subcategory": ("articleType", ARTICLE_TYPE),
    "primary_color": ("baseColour", BASE_COLOUR),
    "occasion": ("usage", USAGE),
    "season": ("season", SEASON),  # type: ignore[dict-item]
}
