"""English: the host's words around facts, in one place (see :mod:`streamer.lang`).

No numbers or number words in here: every number spoken comes from a product sheet.
"""

from __future__ import annotations

from streamer.lang import LanguageTables, ScreenTexts

# ---- answers (the offline brain) ----------------------------------------------------------------------------
# Placeholders: {viewer} {host} {name} {price} {was} {stock} {text} {other} {other_price} {label};
# {is}/{costs} and {other_is} agree with {name} and {other} ("the earbuds are", "the serum is").

PHRASES: dict[str, list[str]] = {
    "address": [
        "Good question, {viewer}!",
        "Thanks for asking, {viewer}!",
        "Hi {viewer}!",
        "{viewer}, here's the answer.",
        "Great question, {viewer}.",
        "Sure thing, {viewer}.",
    ],
    "unknown": [
        "I don't have that detail for the {name}. I don't want to guess, so please check the product page.",
        "The product sheet doesn't say, so I won't guess. You'll find the full details on the product page.",
        "I'm not sure about that for the {name}, sorry. Please check the product page for the details.",
    ],
    "no_product": [
        "Tell me which product you mean and I'll check its details. Everything is also on the product page.",
    ],
    "identity": [
        "I'm {host}, an AI host: a virtual presenter, not a real person. "
        "I answer from the product details the shop gave me.",
        "Honest answer: I'm an AI host, not a real person. "
        "{host} is a virtual presenter, and my answers come from the shop's product details.",
        "I'm {host}, an AI-generated host, so not a real person. "
        "Ask me about the products and I'll tell you what the shop's product sheet says.",
    ],
    "greeting": [
        "Hi {viewer}, welcome to the stream! Right now I'm showing the {name}.",
        "Hey {viewer}, welcome! Ask me anything about the {name}.",
        "Welcome in, {viewer}! We're looking at the {name} right now.",
    ],
    "greeting_anon": [
        "Hi, welcome to the stream! Right now I'm showing the {name}.",
        "Hey, welcome! Ask me anything about the {name}.",
    ],
    "greeting_bare": ["Hi {viewer}, welcome to the stream!", "Welcome in, {viewer}!"],
    "greeting_bare_anon": ["Hi, welcome to the stream!", "Welcome in!"],
    "thanks": [
        "You're welcome, {viewer}!",
        "You're very welcome, {viewer}! Ask me if you have more questions.",
        "You're welcome, {viewer}. Enjoy the stream!",
    ],
    "thanks_anon": ["You're welcome!", "You're very welcome! Ask me if you have more questions."],
    "buy": [
        "Tap the product card on screen to order the {name}.",
        "The {name} {is} on the card on screen: tap it to order.",
        "Just tap the card on screen and the {name} {is} yours.",
    ],
    "buy_anon": ["Tap the product card on screen to order."],
    "affirm": ["Yes: {text}", "Yes, it's there on the sheet: {text}"],
    "comment": [
        "Thanks for sharing, {viewer}!",
        "Thanks for the comment, {viewer}!",
        "Love hearing from you, {viewer}!",
    ],
    "comment_anon": ["Thanks for sharing!", "Thanks for the comment!", "Love hearing from you in the chat!"],
    # One short sentence each: a second one went to air behind the next viewers' answers ("I understand, Chloe."
    # ... 20 s ... "I only say what ..."), and a thank-you line is never cut, so a long one holds up the next answer.
    "criticism": [
        "I hear you, {viewer}: everything I say comes from the shop's product sheet.",
        "I understand, {viewer}: I only say what the shop's product sheet says.",
    ],
    "criticism_anon": ["I hear you: everything I say comes from the shop's product sheet."],
    "headline": [
        "I can only go by the product sheet, and what it leads with for the {name} is this: {text}",
        "I'll let the product sheet speak: {text}",
    ],
    "price_sale": [
        "The {name} {is} {price} right now, down from {was}.",
        "Right now the {name} {is} {price} instead of {was}.",
        "It's {price} today; the regular price is {was}.",
    ],
    "price": ["The {name} {is} {price}.", "It's {price}.", "You can get the {name} for {price}."],
    "sold_out_too": ["It's sold out at the moment, though."],
    "promo": ["Today's deal: {text}", "There's a promotion on: {text}", "Here's the offer: {text}"],
    "promo_labelled": ["{text}"],
    "no_promo": [
        "I don't see a promotion listed for the {name}. Please check the product page for current offers.",
    ],
    "stock": ["We have {stock} in stock right now.", "There are {stock} left in stock.", "{stock} are left."],
    "sold_out": [
        "The {name} {is} sold out right now. Please check the product page for a restock.",
        "Sorry, the {name} {is} sold out at the moment. Keep an eye on the product page.",
    ],
    "shipping": ["Shipping: {text}", "About delivery: {text}"],
    "shipping_it": ["It {text}"],
    "ship_where_unknown": [
        "I can't confirm delivery to {where}: the sheet doesn't say.",
        "The sheet doesn't say if it ships to {where}, so I won't guess.",
    ],
    "ship_abroad_unknown": ["I can't confirm shipping abroad: the sheet doesn't say."],
    "compare_each": ["For the {name}: {text}", "The {name}: {text}"],
    "compare_unknown": ["For the {name}, I don't have that detail; the product page will say."],
    "compare_price": ["The {name} {is} {price}, and the {other} {other_is} {other_price}."],
    "cheaper": ["So the {name} {costs} less.", "That makes the {name} the cheaper pick."],
    "same_price": ["So they cost the same."],
    "compare_overview": ["The {name} {is} {price}: {text}"],
    "show": ["Sure, {viewer}, here's the {name}!", "Coming right up, {viewer}: the {name}!"],
    "show_anon": ["Sure, here's the {name}!", "Coming right up: the {name}!", "Here it is, the {name}!"],
    "variant_price": ["The {label} is {price}.", "In {label} it's {price}."],
    "variant_price_sale": ["The {label} is {price} right now, down from {was}."],
    "variant_stock": ["We have {stock} of the {label} in stock.", "There are {stock} left in {label}."],
    "variant_sold_out": [
        "The {label} is sold out right now. Please check the product page for a restock.",
        "Sorry, {label} is sold out at the moment.",
    ],
    "variant_in_stock_list": ["In {label}, we have {text} in stock.", "{label} is in stock in {text}."],
}

# ---- patter (the template brain) ----------------------------------------------------------------------------
# Placeholders: {name} {price} {was} {stock} {promo} {feature} {feature_low} {lead} {spec} {spec_low} {text}
# {text_low} {q} {a}. A phrasing whose placeholder has no value is left out.

PATTER: dict[str, tuple[str, ...]] = {
    "transition": ("Now let's talk about the {name}", "Up next is the {name}, and I think you'll like it"),
    "invite": (
        "If you have a question about the {name}, type it in the chat",
        "Drop your questions in the chat and I'll answer them live",
        "Curious about the {name}? Ask me in the chat",
    ),
    "invite_anything": ("anything you see here",),
    "hook": (
        "Take a look at the {name}",
        "Let me show you the {name}",
        "Say hello to the {name}",
        "Right now I'm showing the {name}",
    ),
    "feature": (
        "{lead}, {feature_low}",
        "One thing I love: {feature_low}",
        "Worth knowing: {feature_low}",
        "{feature}. That makes a real difference",
        "Here's a nice detail: {feature_low}",
    ),
    "price_sale": (
        "It's usually {was}, and today it's {price}",
        "The regular price is {was}, but right now you pay {price}",
        "Instead of {was}, it's {price} today",
    ),
    "price": ("The price is {price}", "It's {price}", "You can get it for {price}"),
    "promo": ("{promo}",),
    "sold_out": (
        "It's sold out at the moment, but it will be back soon",
        "We're out of stock right now, so check back soon",
    ),
    "stock": ("We have {stock} in stock right now", "There are {stock} left in stock"),
    "spec": ("{spec}", "Good to know: {spec_low}", "And {spec_low}"),
    "shipping": ("Shipping: {text}", "About delivery: {text_low}"),
    "shipping_it": ("It {text_low}",),
    "faq": (
        "A question we get a lot: {q}? {a}",
        "People often ask: {q}? {a}",
        "Someone asked me earlier: {q}? {a}",
    ),
    "call_to_action": (
        "Tap the product card to get your {name}",
        "You'll find the {name} on the card on screen, so grab it there",
        "Hit the product card on screen to order",
        "Like what you see? Tap the card to order the {name}",
    ),
    "ask_chat": (
        "Questions? Ask me in the chat",
        "Type your questions in the chat, I'm reading them",
        "Anything you want to know, just ask in the chat",
    ),
}

FEATURE_LEADS: tuple[str, ...] = ("First of all", "Also", "On top of that", "And", "Plus")

# ---- specs --------------------------------------------------------------------------------------------------

#: (pattern on the label, sentence with {v}) — the first match wins.
SPEC_SHAPES: tuple[tuple[str, str], ...] = (
    (r"^(diameter|width across|across)$", "It's {v} across."),
    (r"^(height|tall|overall height)$", "It's {v} tall."),
    (r"^(width|wide)$", "It's {v} wide."),
    (r"^(length|long)$", "It's {v} long."),
    (r"^(depth|deep)$", "It's {v} deep."),
    (r"^(thickness)$", "It's {v} thick."),
    (r"^(weight|net weight|mass)$", "It weighs {v}."),
    (r"^(capacity|volume)$", "It holds {v}."),
    (r"^(battery|battery life|runtime|run time|playtime|battery h)$", "The battery lasts {v}."),
    (r"^(material|materials|fabric|composition|made of|shell|upper)$", "It's made of {v}."),
    (r"^(origin|country of origin|made in|region|grown in)$", "It comes from {v}."),
    (r"^(warranty|guarantee)$", "The warranty is {v}."),
    (r"^(dimensions|size|sizes)$", "The size is {v}."),
    (r"^(charging|charger|charge port|port)$", "It charges via {v}."),
)

#: Unit suffixes of spec keys (``diameter_cm``) and how they are spoken after the value.
UNITS: dict[str, str] = {
    "cm": "cm",
    "mm": "mm",
    "m": "m",
    "km": "km",
    "kg": "kg",
    "g": "g",
    "mg": "mg",
    "lb": "lb",
    "oz": "oz",
    "ml": "ml",
    "l": "litres",
    "qt": "quarts",
    "h": "hours",
    "hrs": "hours",
    "hours": "hours",
    "min": "minutes",
    "s": "seconds",
    "w": "watts",
    "v": "volts",
    "mah": "mAh",
    "gb": "GB",
    "tb": "TB",
    "in": "inches",
    "inch": "inches",
    "c": "°C",
    "gsm": "gsm",
    "pct": "percent",
}

TABLES = LanguageTables(
    code="en",
    phrases=PHRASES,
    patter=PATTER,
    feature_leads=FEATURE_LEADS,
    spec_shapes=SPEC_SHAPES,
    spec_list_labels=r"^(colou?rs?|colou?r options|colou?rways|finishes|flavou?rs|scents|options|styles|variants)$",
    spec_list_shape="It comes in {v}",
    spec_count_shape="It comes in {v} {label}",
    spec_default_shape="The {label} {verb} {v}",
    spec_labels={},
    units=UNITS,
    thanks=(
        "Thank you so much, {who}!",
        "Thanks a lot, {who}!",
        "Big thanks, {who}!",
        "Thank you, {who}!",
        "Much appreciated, {who}!",
        "Thanks for the support, {who}!",
    ),
    welcome=(
        "Lovely to see you, {who}!",
        "Hello and welcome, {who}!",
        "Hi {who}, great to have you here!",
        "Welcome in, {who}!",
    ),
    thanks_purchase=(
        "Thank you for your order, {who}!",
        "{who}, thanks for ordering, enjoy it!",
        "Great choice, {who}, and thank you for your order!",
    ),
    spoken_disclosure=(
        "Just so you know, I'm an AI host, and this stream is AI-generated.",
        "A quick note for anyone just joining: I'm {host}, an AI-generated virtual host, not a real person.",
        "Friendly reminder: I'm an AI presenter, and everything you hear from me is generated by AI.",
        "In case you're new here, I'm {host}, an AI host, and this livestream is AI-generated.",
    ),
    everyone="everyone",
    name_sep=", ",
    name_and=" and ",
    disclosure="I'm an AI host, and I'm here to help.",
    screen=ScreenTexts(
        ai_label="AI-generated",
        no_image="No image",
        notice="This host is an AI-generated virtual presenter.",
    ),
    full_stop=".",
)
