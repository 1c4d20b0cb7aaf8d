"""Chinese (简体): the host's words around facts, written for Chinese live commerce (see :mod:`streamer.lang`).

Warm but tasteful 直播间 style (家人们, 宝宝们, 小黄车), and never a claim the sheet does not make: no numbers or
number words, no invented scarcity ("只剩最后..."), no superlatives (最, 第一: the ad-law guard drops them anyway).
Prices are said the Chinese way from the sheet (¥268, "原价¥328").
"""

from __future__ import annotations

from streamer.lang import LanguageTables, ScreenTexts

# ---- answers (the offline brain) ----------------------------------------------------------------------------
# Placeholders as in English: {viewer} {host} {name} {price} {was} {stock} {text} {other} {other_price} {label}.

PHRASES: dict[str, list[str]] = {
    "address": ["{viewer}，好问题！", "{viewer}你好！", "谢谢{viewer}的提问！"],
    "unknown": [
        "{name}的这个细节我这里没有，我不乱说哦，请看商品详情页。",
        "商品资料里没写这个，我不猜，请查看商品详情页。",
        "这一点商品资料里没写，我不乱说，详情请看商品页面。",
    ],
    "no_product": ["请告诉我你问的是哪个商品，详情也可以看商品页面。"],
    "identity": [
        "我是{host}，AI生成的虚拟主播，不是真人。我的回答来自商家提供的商品资料。",
        "实话说，我是AI虚拟主播，不是真人。{host}的回答都来自商家的商品资料。",
    ],
    "greeting": [
        "{viewer}你好，欢迎来到直播间！现在给大家介绍的是{name}。",
        "欢迎{viewer}！现在在看的是{name}，有问题随时问我。",
    ],
    "greeting_anon": ["你好，欢迎来到直播间！现在给大家介绍的是{name}。", "欢迎欢迎！关于{name}有问题随时问我。"],
    "greeting_bare": ["{viewer}你好，欢迎来到直播间！", "欢迎{viewer}来到直播间！"],
    "greeting_bare_anon": ["你好，欢迎来到直播间！", "欢迎来到直播间！"],
    "thanks": ["不客气，{viewer}！", "{viewer}，不用谢，有问题随时问我！"],
    "thanks_anon": ["不客气！", "不用谢，有问题随时问我！"],
    "buy": ["点屏幕上的商品卡就能下单{name}哦。", "{name}的链接就在屏幕上的商品卡，点一下就能拍。"],
    "buy_anon": ["点屏幕上的商品卡就能下单哦。"],
    "affirm": ["是的：{text}", "有的，商品资料上写着：{text}"],
    "comment": ["谢谢{viewer}的分享！", "谢谢{viewer}的留言！", "{viewer}，看到你的留言很开心！"],
    "comment_anon": ["谢谢分享！", "谢谢你的留言！", "看到大家的留言很开心！"],
    "criticism": ["{viewer}，理解你的顾虑，我说的都来自店铺的商品资料。"],
    "criticism_anon": ["理解大家的顾虑，我说的都来自店铺的商品资料。"],
    "headline": ["我只按商品资料来说，{name}的介绍是这样写的：{text}", "商品资料是这么介绍的：{text}"],
    "price_sale": ["{name}现在是{price}，原价{was}。", "{name}现在只要{price}，原价{was}。"],
    "price": ["{name}的价格是{price}。", "{name}现在是{price}。"],
    "sold_out_too": ["不过现在已经卖完了。"],
    "promo": ["今天的优惠：{text}", "直播间的活动是：{text}"],
    "promo_labelled": ["{text}"],
    "no_promo": ["{name}目前没有列出优惠活动，请看商品详情页。"],
    "stock": ["现在还有{stock}件库存。", "目前库存还有{stock}件。"],
    "sold_out": ["{name}现在卖完了，请关注商品详情页的补货信息。", "不好意思，{name}现在已经卖完了。"],
    "shipping": ["发货说明：{text}", "关于物流：{text}"],
    "shipping_it": ["发货说明：{text}"],
    "ship_where_unknown": ["商品资料里没写能不能发到{where}，我不乱说。"],
    "ship_abroad_unknown": ["商品资料里没写能不能发海外，我不乱说。"],
    "compare_each": ["{name}：{text}", "先说{name}：{text}"],
    "compare_unknown": ["{name}的这个细节我这里没有，请看商品详情页。"],
    "compare_price": ["{name}是{price}，{other}是{other_price}。"],
    "cheaper": ["所以{name}更便宜。", "这样算下来，{name}价格更低。"],
    "same_price": ["所以价格一样。"],
    "compare_overview": ["{name}是{price}：{text}"],
    "show": ["好的{viewer}，给大家看看{name}！", "{viewer}，{name}来了！"],
    "show_anon": ["好的，给大家看看{name}！", "来了，{name}！"],
    "variant_price": ["{label}现在是{price}。", "{label}的价格是{price}。"],
    "variant_price_sale": ["{label}现在是{price}，原价{was}。"],
    "variant_stock": ["{label}还有{stock}件。", "{label}目前库存{stock}件。"],
    "variant_sold_out": ["{label}现在卖完了，请关注商品详情页的补货信息。", "不好意思，{label}已经卖完了。"],
    "variant_in_stock_list": ["{label}有货的是：{text}。"],
}

# ---- patter (the template brain) ----------------------------------------------------------------------------

PATTER: dict[str, tuple[str, ...]] = {
    "transition": ("接下来给大家看看{name}", "下一款是{name}，一起来看看", "好，我们换一款，来看{name}"),
    "invite": (
        "关于{name}有什么问题，打在评论区就好",
        "有问题发在公屏上，我现场给大家解答",
        "想了解{name}的细节？评论区问我",
    ),
    "invite_anything": ("直播间里的商品",),
    "hook": (
        "家人们看过来，这款是{name}",
        "给大家介绍一下{name}",
        "现在给宝宝们展示的是{name}",
        "来看看这款{name}",
    ),
    "feature": (
        "{lead}，{feature}",
        "给大家说一个亮点：{feature}",
        "这个细节很贴心：{feature}",
        "宝宝们注意这一点：{feature}",
    ),
    "price_sale": (
        "现在只要{price}，原价{was}",
        "原价{was}，今天直播间{price}就能带回家",
        "日常价{was}，现在下单是{price}",
    ),
    "price": ("价格是{price}", "现在{price}就能带回家", "这款的价格是{price}"),
    "promo": ("直播间福利：{promo}", "优惠说明：{promo}", "还有活动：{promo}"),
    "sold_out": ("这款现在卖完了，请关注商品页的补货信息", "现在暂时没货了，补货请留意商品页"),
    "stock": ("现在库存还有{stock}件", "目前还有{stock}件现货"),
    "spec": ("{spec}", "给大家说一下参数：{spec}", "再提一句，{spec}"),
    "shipping": ("发货说明：{text}", "关于物流：{text}"),
    "shipping_it": ("发货说明：{text_low}",),
    "faq": ("很多宝宝问：{q}？{a}", "常被问到的问题：{q}？{a}", "有家人问过：{q}？{a}"),
    "call_to_action": (
        "喜欢的家人们点击下方小黄车，就能拍{name}",
        "想要{name}的宝宝，点击下方商品卡片下单",
        "{name}就在下方购物车里，点进去就能下单",
        "看中了就点下方小黄车",
    ),
    "ask_chat": (
        "有问题可以打在公屏上，我都会看",
        "想了解什么细节，评论区问我",
        "大家有疑问就在评论区留言，我来解答",
    ),
}

FEATURE_LEADS: tuple[str, ...] = ("首先", "还有", "另外", "而且", "再说一点")

# ---- specs --------------------------------------------------------------------------------------------------

SPEC_SHAPES: tuple[tuple[str, str], ...] = (
    (r"^(产地|原产地|产区)$", "产地是{v}。"),
    (r"^(保修|质保|保修期|质保期)$", "质保{v}。"),
)

#: English spec labels said in Chinese (a zh show about a sheet with English keys).
SPEC_LABELS: dict[str, str] = {
    "diameter": "直径",
    "height": "高度",
    "width": "宽度",
    "length": "长度",
    "depth": "深度",
    "thickness": "厚度",
    "weight": "重量",
    "net weight": "净重",
    "capacity": "容量",
    "volume": "容量",
    "material": "材质",
    "materials": "材质",
    "fabric": "面料",
    "origin": "产地",
    "made in": "产地",
    "colours": "颜色",
    "colors": "颜色",
    "colour": "颜色",
    "color": "颜色",
    "size": "尺寸",
    "sizes": "尺寸",
    "dimensions": "尺寸",
    "warranty": "质保",
    "battery": "续航",
    "battery life": "续航",
    "brand": "品牌",
    "category": "品类",
}

UNITS: dict[str, str] = {
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "km": "公里",
    "kg": "千克",
    "g": "克",
    "mg": "毫克",
    "lb": "磅",
    "oz": "盎司",
    "ml": "毫升",
    "l": "升",
    "qt": "夸脱",
    "h": "小时",
    "hrs": "小时",
    "hours": "小时",
    "min": "分钟",
    "s": "秒",
    "w": "瓦",
    "v": "伏",
    "mah": "毫安时",
    "gb": "GB",
    "tb": "TB",
    "in": "英寸",
    "inch": "英寸",
    "c": "°C",
    "gsm": "克每平方米",
    "pct": "%",
}

TABLES = LanguageTables(
    code="zh",
    phrases=PHRASES,
    patter=PATTER,
    feature_leads=FEATURE_LEADS,
    spec_shapes=SPEC_SHAPES,
    spec_list_labels=r"^(颜色|配色|色系|款式|口味|香型|可选颜色|颜色分类)$",
    spec_list_shape="{label}有{v}可选。",
    spec_count_shape="有{v}种{label}可选。",
    spec_default_shape="{label}是{v}。",
    spec_labels=SPEC_LABELS,
    units=UNITS,
    thanks=("谢谢{who}的支持！", "感谢{who}！", "谢谢{who}，爱你们！"),
    welcome=("欢迎{who}来到直播间！", "{who}，欢迎欢迎！", "欢迎{who}，喜欢的话点个关注！"),
    thanks_purchase=("谢谢{who}下单！", "感谢{who}的支持，已经拍下的宝宝耐心等发货哦！", "{who}眼光真好，谢谢下单！"),
    spoken_disclosure=(
        "温馨提示：我是AI虚拟主播，本直播内容由AI生成。",
        "跟刚进来的朋友说一下：我是{host}，是AI生成的虚拟主播，不是真人哦。",
        "再提醒一下大家，我是AI主播，直播里我说的内容都是由人工智能生成的。",
        "友情提示：本场直播由AI虚拟主播{host}为大家讲解，内容由AI生成。",
    ),
    everyone="大家",
    name_sep="、",
    name_and="、",
    disclosure="我是AI主播。",
    screen=ScreenTexts(ai_label="AI生成", no_image="暂无图片", notice="本主播为AI生成的虚拟主播。"),
    full_stop="。",
)
