"""The bio's hand-written tables: tags, tone words, mottos, emoji and interests.

Our own writing: the tags that tie words to avatar attributes, trait adjectives,
short mottos and an emoji table per locale, a table of 37 common interests with
their words and related words in each locale (it also translates a Latin
keyword such as "cat" to 猫 / 猫), and a few function words for the word
segmenter of the metrics (`bio_words.words`). The templates are in
`bio_words`; word lists read from packages are never copied here.
"""

import functools
import unicodedata

# Tags tie words to avatar attributes (bio_score scores their agreement).
TAGS = ("cheerful", "bookish", "calm", "outdoorsy", "stylish", "seasoned", "youthful", "playful", "hat",
        "glasses")
# CelebA attribute -> {value: {tag: weight}}; attributes not named have no say.
ATTRIBUTE_TAGS = {
    "Smiling": {
        True: {
            "cheerful": 1.0,
            "playful": 0.3
        },
        False: {
            "cheerful": -0.3,
            "calm": 0.5
        }
    },
    "Mouth_Slightly_Open": {
        True: {
            "cheerful": 0.3
        }
    },
    "Rosy_Cheeks": {
        True: {
            "cheerful": 0.3
        }
    },
    "Eyeglasses": {
        True: {
            "glasses": 1.0,
            "bookish": 0.7
        },
        False: {
            "glasses": -1.0
        }
    },
    "Wearing_Hat": {
        True: {
            "hat": 1.0,
            "outdoorsy": 0.3,
            "stylish": 0.3
        },
        False: {
            "hat": -1.0
        }
    },
    "Heavy_Makeup": {
        True: {
            "stylish": 0.7
        }
    },
    "Wearing_Lipstick": {
        True: {
            "stylish": 0.5
        }
    },
    "Wearing_Earrings": {
        True: {
            "stylish": 0.5
        }
    },
    "Wearing_Necklace": {
        True: {
            "stylish": 0.5
        }
    },
    "Wearing_Necktie": {
        True: {
            "stylish": 0.5,
            "seasoned": 0.3
        }
    },
    "Young": {
        True: {
            "youthful": 1.0
        },
        False: {
            "seasoned": 0.7,
            "youthful": -0.5
        }
    },
    "Gray_Hair": {
        True: {
            "seasoned": 1.0,
            "youthful": -0.5
        }
    },
    "Bald": {
        True: {
            "seasoned": 0.3
        }
    },
}

# (word, tags) per locale.
TRAITS = {
    "en_US": (("sunny", "cheerful"), ("cheerful", "cheerful"), ("upbeat", "cheerful playful"),
              ("curious", "bookish"), ("bookish", "bookish glasses"), ("nerdy", "bookish glasses"),
              ("calm", "calm"), ("quiet", "calm"), ("easygoing", "calm"), ("outdoorsy", "outdoorsy"),
              ("adventurous", "outdoorsy youthful"), ("stylish", "stylish"), ("dapper", "stylish hat"),
              ("seasoned", "seasoned"), ("grounded", "seasoned calm"), ("restless", "youthful"),
              ("playful", "playful"), ("goofy", "playful cheerful"), ("thoughtful", "calm bookish")),
    "zh_CN": (("爱笑", "cheerful"), ("元气满满", "cheerful youthful"), ("乐观", "cheerful"), ("爱看书", "bookish"),
              ("文艺", "bookish calm"), ("戴眼镜", "glasses bookish"), ("安静", "calm"), ("佛系", "calm"),
              ("慢热", "calm"), ("热爱户外", "outdoorsy"), ("爱冒险", "outdoorsy youthful"), ("爱打扮", "stylish"),
              ("爱戴帽子", "hat stylish"), ("阅历丰富", "seasoned"), ("沉稳", "seasoned calm"), ("有活力", "youthful"),
              ("爱搞怪", "playful"), ("幽默", "playful cheerful"), ("好奇心旺盛", "bookish youthful")),
    "ja_JP":
        (("陽気", "cheerful"), ("元気", "cheerful youthful"), ("前向き", "cheerful"), ("勉強熱心", "bookish"),
         ("読書好き", "bookish glasses"), ("知的", "bookish glasses"), ("物静か", "calm"), ("穏やか", "calm"),
         ("マイペース", "calm"), ("アウトドア好き", "outdoorsy"), ("活動的", "outdoorsy youthful"), ("おしゃれ", "stylish"),
         ("帽子好き", "hat stylish"), ("ベテラン", "seasoned"), ("落ち着き派", "seasoned calm"), ("フレッシュ", "youthful"),
         ("おちゃめ", "playful"), ("ユニーク", "playful cheerful"), ("好奇心旺盛", "bookish youthful")),
}

MOTTOS = {
    "en_US":
        (("Smiling through the chaos.", "cheerful"), ("Laughs easily and often.", "cheerful"),
         ("One more chapter, always.", "bookish"), ("Glasses on, world in focus.", "glasses"),
         ("Slow mornings are sacred.", "calm"), ("Quiet mind, busy hands.", "calm"),
         ("Happiest outdoors.", "outdoorsy"), ("Sun hat, trail map, no plan.", "hat outdoorsy"),
         ("My hat collection keeps growing.", "hat stylish"), ("Dressed for the day I want.", "stylish"),
         ("Older, wiser, still curious.", "seasoned"), ("Decades of stories to tell.", "seasoned"),
         ("Young, restless, learning.",
          "youthful"), ("Just getting started.", "youthful"), ("Professional overthinker.", "playful"),
         ("Chaos with a to-do list.", "playful"), ("Kindness is free.", ""), ("Always learning.", "bookish")),
    "zh_CN":
        (("每天都要笑一笑。", "cheerful"), ("开心最重要！", "cheerful"), ("再读一章就睡。", "bookish"), ("眼镜一戴，世界清晰。", "glasses"),
         ("慢慢来，比较快。", "calm"), ("安静地做自己。", "calm"), ("最爱在户外晒太阳。", "outdoorsy"), ("帽子是我的标配。", "hat stylish"),
         ("出门先挑一顶帽子。", "hat"), ("今天也要好好打扮。", "stylish"), ("经历多了，更懂生活。", "seasoned"),
         ("岁月是最好的老师。", "seasoned"), ("年轻就要多尝试。", "youthful"), ("永远在路上。", "outdoorsy youthful"),
         ("脑洞很大，计划很少。", "playful"), ("人生苦短，多点有趣。", "playful"), ("保持好奇。", "bookish"), ("温柔且坚定。", "")),
    "ja_JP": (("笑顔がいちばん。", "cheerful"), ("毎日たのしく！", "cheerful"), ("あと一章だけ読みたい。", "bookish"),
              ("メガネが本体です。", "glasses playful"), ("のんびりいきましょう。", "calm"), ("静かな時間が好き。", "calm"),
              ("休日は外にいます。", "outdoorsy"), ("帽子は毎日の相棒。", "hat stylish"), ("つばの広い帽子が好き。", "hat"), ("おしゃれは気分から。",
                                                                                                 "stylish"),
              ("経験を重ねて、今が一番。", "seasoned"), ("まだまだ勉強中。", "youthful bookish"), ("何でも挑戦してみたい。", "youthful"),
              ("ゆるく楽しく生きてます。", "playful calm"), ("好奇心だけは負けません。", "bookish playful"), ("よろしくお願いします。", "")),
}

EMOJI = (("😄", "cheerful"), ("😊", "cheerful"), ("🌞", "cheerful outdoorsy"), ("🌈", "cheerful playful"),
         ("✨", ""), ("💫", ""), ("📚", "bookish"), ("🤓", "glasses bookish"), ("👓", "glasses"), ("🍵", "calm"),
         ("🌿", "calm outdoorsy"), ("🌲", "outdoorsy"), ("🧢", "hat youthful"), ("👒", "hat stylish"),
         ("🎩", "hat stylish"), ("💄", "stylish"), ("👔", "stylish seasoned"), ("🦉", "seasoned bookish"),
         ("🌱", "youthful"), ("🚀", "youthful"), ("🎈", "playful"), ("🤪", "playful"), ("🙌", "cheerful"),
         ("🔥", "youthful"))

# id: (emoji, tags, en words, zh words, ja words, extra aliases). The first
# word of a locale is the interest's name there, the rest are related words.
INTERESTS = {
    "cat": ("🐱", "playful", "cats|kittens|cat cafés|afternoon naps", "猫|撸猫|猫咖|橘猫", "猫|猫カフェ|ねこ活|昼寝",
            "cat|kitten|ねこ|ネコ|貓"),
    "dog": ("🐶", "cheerful outdoorsy", "dogs|puppies|long walks|dog parks", "狗|遛狗|柯基|萌宠", "犬|散歩|柴犬|ドッグラン",
            "dog|puppy|いぬ|イヌ|狗狗"),
    "photography": ("📷", "", "photography|film cameras|street photos|golden hour", "摄影|胶片相机|扫街|街拍",
                    "写真|カメラ|フィルムカメラ|街歩き", "photo|photos|camera|拍照|照相"),
    "travel": ("🧳", "outdoorsy", "travel|road trips|old maps|new cities", "旅行|自驾游|背包客|看世界", "旅行|一人旅|ご当地グルメ|旅",
               "trip|traveling|travelling|旅游"),
    "coffee":
        ("☕", "calm", "coffee|espresso|latte art|tiny cafés", "咖啡|手冲|拿铁|咖啡馆", "コーヒー|カフェ巡り|ラテアート|喫茶店", "珈琲"),
    "tea": ("🍵", "calm", "tea|matcha|loose-leaf tea|teapots", "茶|喝茶|茶艺|普洱", "お茶|抹茶|緑茶|茶道", "喝茶"),
    "music": ("🎧", "", "music|vinyl|live gigs|playlists", "音乐|听歌|现场演出|黑胶", "音楽|ライブ|レコード|フェス", "songs|音樂"),
    "reading":
        ("📚", "bookish", "books|reading|novels|libraries", "读书|阅读|小说|图书馆", "読書|本|小説|図書館", "book|read|看书|书|本"),
    "hiking": ("🥾", "outdoorsy", "hiking|mountains|trails|summit views", "徒步|爬山|登山|山野", "登山|ハイキング|山歩き|山小屋",
               "hike|mountain|mountains|山"),
    "camping": ("⛺", "outdoorsy", "camping|campfires|starry nights|tents", "露营|篝火|野营|帐篷",
                "キャンプ|焚き火|ソロキャンプ|テント", "camp"),
    "cooking":
        ("🍳", "calm", "cooking|recipes|home cooking|spices", "做饭|下厨|家常菜|菜谱", "料理|自炊|レシピ|お弁当", "cook|烹饪"),
    "food": ("🍜", "cheerful", "food|street food|noodles|dumplings", "美食|小吃|面条|火锅", "グルメ|食べ歩き|ラーメン|餃子",
             "foodie|eating|吃货"),
    "gaming": ("🎮", "playful youthful", "games|retro games|board games|speedruns", "游戏|打游戏|桌游|主机游戏",
               "ゲーム|レトロゲーム|ボードゲーム|ゲーム実況", "game|gaming|video games|电竞"),
    "anime": ("🍥", "playful youthful", "anime|manga|cosplay|studio films", "动漫|漫画|二次元|追番", "アニメ|漫画|コスプレ|声優",
              "manga|动画"),
    "art": ("🎨", "", "drawing|sketchbooks|watercolor|illustration", "画画|插画|水彩|速写", "イラスト|お絵かき|水彩画|スケッチ",
            "art|draw|painting|绘画|美术|絵"),
    "coding": ("💻", "bookish glasses", "coding|open source|side projects|tiny apps", "编程|写代码|开源|独立开发",
               "プログラミング|コード|オープンソース|個人開発", "code|programming|python|developer|代码|程序"),
    "running": ("🏃", "outdoorsy youthful", "running|marathons|morning runs|trail running", "跑步|马拉松|晨跑|越野跑",
                "ランニング|マラソン|朝ラン|ジョギング", "run|runner|jogging"),
    "yoga": ("🧘", "calm", "yoga|stretching|meditation|slow breathing", "瑜伽|冥想|拉伸|普拉提", "ヨガ|瞑想|ストレッチ|ピラティス",
             "meditation"),
    "football": ("⚽", "outdoorsy", "football|match days|five-a-side|terrace chants", "足球|踢球|看球|球赛",
                 "サッカー|フットサル|観戦|スタジアム", "soccer"),
    "basketball": ("🏀", "youthful", "basketball|pickup games|buzzer beaters", "篮球|打篮球|街球|投篮",
                   "バスケ|バスケットボール|3on3|シュート練習", "nba|バスケ"),
    "movies": ("🎬", "", "movies|cinema|indie films|documentaries", "电影|看电影|纪录片|影院", "映画|映画館|ドキュメンタリー|名作映画",
               "movie|film|films|cinema"),
    "gardening": ("🌱", "calm outdoorsy", "gardening|houseplants|succulents|herbs", "园艺|多肉|养花|绿植",
                  "ガーデニング|観葉植物|多肉植物|家庭菜園", "plants|garden|植物|花"),
    "cycling": ("🚲", "outdoorsy", "cycling|bike rides|road bikes|bike commutes", "骑行|单车|公路车|环湖骑行",
                "サイクリング|自転車|ロードバイク|輪行", "bike|bicycle|biking"),
    "swimming": ("🏊", "outdoorsy", "swimming|open water|the pool|sea swims", "游泳|自由泳|冲浪|潜水",
                 "水泳|海|サーフィン|ダイビング", "swim|surfing"),
    "fashion": ("👗", "stylish", "fashion|vintage clothes|thrifting|streetwear", "穿搭|时尚|古着|街头风",
                "ファッション|古着|コーデ|ストリート", "style|clothes|时尚"),
    "design": ("📐", "stylish", "design|typography|posters|UX", "设计|排版|交互设计|海报", "デザイン|タイポグラフィ|ポスター|UX", "设计"),
    "science": ("🔬", "bookish glasses", "science|physics|lab life|big questions", "科学|物理|实验|科普",
                "科学|物理|実験|サイエンス", "physics|科普"),
    "astronomy": ("🔭", "bookish calm", "astronomy|stargazing|telescopes|night skies", "天文|观星|宇宙|星空",
                  "天体観測|星空|宇宙|プラネタリウム", "stars|space|stargazing|星星"),
    "history": ("📜", "bookish seasoned", "history|museums|old maps|archives", "历史|博物馆|古建筑|考古",
                "歴史|博物館|城巡り|古地図", "museum|历史"),
    "writing": ("📝", "bookish", "writing|poetry|journaling|short stories", "写作|写诗|手账|短篇小说", "執筆|詩|日記|エッセイ",
                "write|poetry|poems|诗"),
    "dance": ("💃", "cheerful stylish", "dance|salsa|hip hop|ballet", "跳舞|街舞|芭蕾|爵士舞", "ダンス|バレエ|ヒップホップ|社交ダンス",
              "dancing|舞蹈"),
    "piano": ("🎹", "calm", "piano|jazz piano|classical music|sheet music", "钢琴|弹琴|爵士乐|古典音乐",
              "ピアノ|ジャズ|クラシック|連弾", "钢琴"),
    "guitar":
        ("🎸", "youthful", "guitar|songwriting|open mics|old amps", "吉他|弹唱|民谣|乐队", "ギター|弾き語り|バンド|作曲", "吉他"),
    "baking": ("🧁", "cheerful", "baking|sourdough|cakes|pastry", "烘焙|面包|甜点|蛋糕", "お菓子作り|パン作り|ケーキ|スイーツ",
               "bake|bread"),
    "fishing": ("🎣", "calm outdoorsy", "fishing|fly fishing|quiet lakes|tackle boxes", "钓鱼|路亚|海钓|湖边",
                "釣り|渓流釣り|海釣り|ルアー", "fish|釣り"),
    "chess":
        ("🧩", "bookish", "chess|puzzles|strategy games|endgames", "国际象棋|下棋|围棋|解谜", "チェス|将棋|囲碁|パズル", "象棋|将棋"),
    "nature": ("🌿", "calm outdoorsy", "nature|birdwatching|forests|wildflowers", "大自然|观鸟|森林|野花",
               "自然|バードウォッチング|森|野草", "birds|forest|自然"),
}

# Function words (and a few words of our templates) of two or more kana/han
# characters, for the word segmenter of the metrics (bio_words.words): a dictionary
# segmenter needs them, and the package word lists are all content words.
FUNCTION_WORDS = ("です", "ます", "でした", "ました", "して", "います", "から", "まで", "より", "など", "いつも", "ずっと", "いつでも", "わりと",
                  "こんにちは", "好き", "大好き", "夢中", "発信", "生きがい", "推し", "ハマり中", "こと", "もの", "我们", "还有", "不是", "就是",
                  "一个", "每天", "最近")

_LOCALE_COLUMN = {"en_US": 2, "zh_CN": 3, "ja_JP": 4}


def tag_list(tags: str) -> tuple:
  """Space-separated tag names -> tuple, checked against TAGS."""
  out = tuple(tags.split())
  bad = [t for t in out if t not in TAGS]
  if bad:
    raise ValueError(f"unknown tags {bad}")
  return out


def interest_words(interest: str, locale: str) -> tuple:
  """(name, related...) of an interest in a locale."""
  return tuple(INTERESTS[interest][_LOCALE_COLUMN[locale]].split("|"))


def normalize(word: str) -> str:
  """NFKC, case-folded, stripped: the form keywords are matched in."""
  return unicodedata.normalize("NFKC", word).casefold().strip()


@functools.cache
def _alias_index() -> dict:
  index = {}
  for name, row in INTERESTS.items():
    words = [name] + row[5].split("|")
    words += [w.split("|")[0] for w in row[2:5]]
    for w in words:
      index.setdefault(normalize(w), name)
  return index


def match_interest(keyword: str) -> str | None:
  """The INTERESTS id a keyword names (its name in any locale or an alias), or None."""
  return _alias_index().get(normalize(keyword))
