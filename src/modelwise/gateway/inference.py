"""The task type of a chat request, inferred from its messages: the user's request (found inside the
wrappers IDE agents put around it), its code blocks, stack traces and diffs, a short task-specific system
prompt and the presence of tools. Users' rules from the config are tried first; `infer` says which rule
decided."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_TEXT = 20_000  # characters kept of a turn's start and of its end (a turn can hold whole files)
# What the rules read of the request: its start and its end (where people say what they want), and more
# of it for traces, diffs and code. Regular expressions cost time per character; these bound it.
HEAD, TAIL, HEAD_FULL = 800, 300, 3_000
SHORT_SYSTEM = 1_500  # a longer system prompt is an agent's generic one and says nothing of the task
CI = re.IGNORECASE
ML = re.MULTILINE

# What agents wrap around the user's words: dropped (their file lists and reminders name tests, READMEs
# and Dockerfiles whatever the task), or the request itself taken from inside them.
_DROP = re.compile(
    r"<(environment_details|system-reminder|additional_data|attached_files|cursor_commands)>.*?</\1>", re.S
)
_INSIDE = re.compile(r"<(task|user_query|user_request|feedback)>(.*?)</\1>", re.S)
_TOOL_RESULT = re.compile(r"^\s*\[[\w-]+(?: for [^\]]*)?\] Result:", re.S)  # Cline's tool results
_FENCED = re.compile(r"```[^\n]*\n.*?(?:```|\Z)", re.S)
_ASK = re.compile(r"^\s*/(?:ask|code|architect)\s+")  # Aider's chat modes

# (name, task type, weight, where, pattern). `where`: "prose" (the request without its code blocks),
# "full" (with them: traces, diffs and notation are read wherever they are), "code" (code blocks only).
# The type with the most weight wins; ties go to the type listed first in PRIORITY.
_RULES: tuple[tuple[str, str, int, str, str, int], ...] = (
    ("stack-trace", "debugging", 4, "full",
     r"Traceback \(most recent call last\)|^\s+at [\w.$<>\[\] ]+ ?\(\S*:\d+(?::\d+)?\)|panicked at|"
     r"^goroutine \d+ \[|Exception in thread|Segmentation fault|core dumped|^\s*(?:\w+\.)*\w*(?:Error|"
     r"Exception)(?::|$)|error\[E\d{3,4}\]|Uncaught \w*Error|^FAILED \S+::|fatal error:|^E\s{3}\w+Error|"
     r"^\s*File \"[^\"]+\", line \d+|\b\w*(?:Error|Exception): \S|Failed to compile|npm ERR!|error TS\d+|"
     r"^ERROR in |exit (?:code|status) [1-9]|\b[45]\d\d (?:Method Not Allowed|Not Found|Internal Server "
     r"Error|Bad Request|Unauthorized|Forbidden|Bad Gateway)\b",
     ML),
    ("failure-words", "debugging", 2, "prose",
     r"\b(?:bugs?|debug\w*|crash\w*|broken|breaks|regression|exceptions?|stack ?trace|throws?|thrown|"
     r"hangs?|hanging|freez\w+|deadlock\w*|segfault\w*|fails?|failing|failed|doesn'?t work|does not work|"
     r"not working|isn'?t working|stopped working|wrong (?:result|output|value|answer)|returns? "
     r"(?:None|null|undefined|NaN|nil)|unexpected\w*|(?:an?|the|this|that) error|errors? (?:with|when|on|"
     r"in|about)|getting (?:an? |this |the )?\S*error|why (?:does|is|do|did|am|are|isn'?t|doesn'?t) "
     r"(?:this|it|my|the)\b|what'?s wrong|what am I doing wrong|what'?s the bug|root cause|investigate|"
     r"track (?:it|this) down|find (?:the|out) (?:cause|bug|problem|why)|intermittent\w*|sometimes|only "
     r"(?:happens|when|in production)|happens only|is wrong|which is wrong|incorrect\w*|isn'?t (?:right|"
     r"correct)|nothing (?:changed|happens|shows|appears)|(?:can'?t|cannot|can not|unable to|couldn'?t|"
     r"could not) (?:see|open|find|load|connect|access|import|resolve|run|start|get|reach)|not loading|"
     r"won'?t (?:load|start|run|compile|work|build)|still (?:issues|failing|broken|not)|issues? (?:with|"
     r"opening|when|in|while)|(?:have|having|got) (?:a|an|this|some) (?:problem|issue)|giving (?:me|us) "
     r"(?:an? )?(?:issues?|errors?|problems?|trouble)|problem with|what is the issue|"
     r"what'?s the issue|what'?s going on|what is going on|gets? stuck|stuck (?:at|on|in)|is (?:not|n'?t) "
     r"(?:working|showing|updating|saving|loading))\b", CI),
    ("fix-words", "debugging", 2, "prose",
     r"\b(?:fix(?:es|ing)?|fixed (?:it|this|that|the bug)|solve this|resolve this)\b", CI),
    ("symptoms", "debugging", 3, "prose",
     r"\b(?:flak(?:y|iness)|segfaults?|sigsegv|sigabrt|null ?pointer\w*|nil pointer|runs? twice|"
     r"double[- ](?:sends?|sent|sending|charg\w+|count\w*|submi\w+|post\w*|fir\w+)|(?:sees?|shows?|showing|"
     r"gets?|getting|displays?|displaying) (?:the )?wrong|wrong (?:date|time|timezone|number|total|price|"
     r"order|user|page|year|month|day)s?|(?:one|a) day (?:behind|ahead|off)|off[- ]by[- ]one|was (?:fine|"
     r"working) (?:on|in|before|until|yesterday|last)|(?:after|since) (?:upgrading|updating|the upgrade|"
     r"bumping|we (?:upgraded|updated|moved|scaled|switched|deployed))|(?:returns|returning|gets|getting|got|"
     r"throws|throwing) (?:a |an )?(?:http )?[45]\d\d\b|since (?:moving|switching|upgrading|"
     r"updating|migrating) "
     r"to|console (?:says|shows|prints)|flicker\w*|for a split second|even though (?:\S+ ){0,2}?(?:changed|"
     r"touched)|nobody changed|what'?s wrong with (?:my|this|it|the)|(?:stops?|stopped|dies|died|hangs|"
     r"freezes) (?:after|at|when|on|halfway|midway|partway)|(?:has been |is |are )?missing "
     r"(?:rows|records|data|"
     r"items|events|messages|entries) (?:since|from|in|after)|works? (?:fine )?locally but|"
     r"(?:only|just) (?:on|in) "
     r"(?:ci|prod\w*|staging|safari|firefox|chrome|ios|android|windows)|passes (?:\S+ ){0,3}?locally|"
     r"fails? (?:\S+ ){0,3}?"
     r"(?:\d+ (?:in|out of) \d+|randomly|intermittently|on ci)|(?:one|a) day (?:early|late)|"
     r"but (?:works )?fine "
     r"(?:for|on|in|with)|get (?:this|it) to (?:compile|build|run|work|pass)|borrow checker|cannot borrow|"
     r"mismatched types|type mismatch|compil(?:e|er|ation) (?:error|fails|failure|complains)|"
     r"(?:build|compile|"
     r"compilation|tests?|ci|deploy\w*) (?:fails|failed|failing|is failing|breaks|broke))\b", CI),
    ("diff", "code_review", 3, "full",
     r"^diff --git |^@@ -\d+(?:,\d+)? \+\d+|^index [0-9a-f]{7,}\.\.[0-9a-f]{7,}|^(?:---|\+\+\+) [ab]/", ML),
    ("review-words", "code_review", 4, "prose",
     r"\b(?:review\w*|pull request|merge request|(?-i:PR)|LGTM|critique\w*|feedback on|sanity[- ]check|"
     r"second pair of eyes|look (?:over|through) (?:this|my|the)|anything (?:wrong|off|missing|"
     r"problematic)|did I miss|(?:see|spot|find|notice) any (?:issues|problems|bugs|race conditions|"
     r"mistakes)|what would a (?:senior )?(?:engineer|reviewer|dev\w*) say|is (?:this|it) (?:safe|"
     r"idiomatic|correct|ok|okay|good practice)|before (?:I|we) (?:push|merge|commit|ship)|(?:seem|look)s? "
     r"(?:right|correct|ok|okay|good) to you|is (?:this|that|it) (?:right|correct))\b", CI),
    ("review-asks", "code_review", 4, "prose",
     r"\b(?:once[- ]over|look over|read (?:through|over)|point out|footguns?|red flags?|(?:poke|pick) "
     r"holes|(?:anything|something|what'?s) (?:risky|dangerous|off|sketchy|fishy|unsafe|insecure)|before "
     r"(?:I|we) (?:apply|run|deploy|release|roll|land|send)|check (?:\S+ ){0,4}?before (?:I|we)|be (?:harsh|"
     r"brutal|picky|critical|nitpicky)|(?:secure|safe|robust|solid|correct) enough|(?:security|"
     r"code|quick|final|"
     r"second) (?:pass|audit|check) (?:over|on|of|through)|audit (?:this|the|my|our)|(?:could|might|can) go "
     r"wrong|look (?:this|it|these|that) over|second opinion|whether (?:it'?s|this is|that'?s) "
     r"safe|(?:is|are) "
     r"(?:this|these|it) (?:an? )?(?:ok|okay|good|safe|sane|reasonable) (?:way|approach|idea))\b", CI),
    ("test-writing", "testing", 4, "prose",
     r"\b(?:(?:write|add|create|generate|need|improve|more|missing)\s+(?:\S+\s+){0,3}?(?:unit |integration "
     r"|e2e |end-to-end |regression |snapshot |property-based |table-driven )?(?:tests?|specs?|test "
     r"cases?|test suite)|unit tests?|integration tests?|end-to-end tests?|e2e tests?|test coverage|"
     r"coverage|property-based|table-driven tests?|snapshot tests?|test cases?|tests? for)\b", CI),
    ("test-frameworks", "testing", 2, "prose",
     r"\b(?:tests?|testing|test ?suites?|e2e|pytest|jest|vitest|mocha|jasmine|junit\w*|testng|rspec|"
     r"minitest|phpunit|playwright|cypress|"
     r"selenium|hypothesis|unittest|go test|httptest|mockito|testing-library|mock(?:s|ing|ed)?|"
     r"fixtures?)\b", CI),
    ("test-code", "testing", 1, "code",
     r"^\s*(?:import pytest|from unittest|@Test\b|describe\(|it\(['\"]|func Test\w+\(t \*testing\.T\))",
     ML),
    ("test-data", "testing", 2, "prose",
     r"\b(?:specs|factory_bot|factory_boy|factories for|test (?:data|doubles?)|assertions?|asserts|"
     r"exercise (?:this|the|it)|fak(?:e|es|ing) (?:the |out )?\w+)\b", CI),
    ("test-cases", "testing", 3, "prose",
     r"\b(?:table-driven|edge cases|(?:snapshot |test |more |unit )?cases (?:for|covering)|snapshot (?:cases|"
     r"tests?)|cases:|weird inputs)\b", CI),
    ("refactor-words", "refactoring", 4, "prose",
     r"\b(?:refactor\w*|restructur\w*|reorgani[sz]\w*|clean (?:this |it |that |the code )?up|"
     r"decouple\w*|de-?duplicat\w*|duplicat\w*|repetitive|(?-i:DRY)|without changing (?:the )?behaviou?r|"
     r"modernis\w*|moderniz\w*|too (?:nested|long|complex|complicated)|hard to (?:read|follow|maintain)|"
     r"early returns?|(?:more |un)readable|readability)\b", CI),
    ("restructure-verbs", "refactoring", 3, "prose",
     r"\b(?:rename\w*|extract (?:\S+ ){0,5}?(?:into|to|as|out)|extract (?:a|an|the) (?:method|function|class|"
     r"helper|module|component|hook|interface)|simplif\w*|split (?:\S+ ){0,6}into|"
     r"move (?:\S+ ){0,8}(?:in)?to (?:a |an |"
     r"its own |their own )?(?:separate|new|own|different)|convert (?:\S+ ){0,6}(?:to|into)|migrate "
     r"(?:\S+ ){0,6}(?:to|from)|replace (?:\S+ ){0,8}with|inline (?:this|the)|separate (?:\S+ ){0,4}(?:out|"
     r"from|into))\b", CI),
    ("same-behaviour", "refactoring", 4, "prose",
     r"\b(?:dedupe\w*|copy[- ]?past\w*|(?:no|zero|without(?: any)?) (?:functional|behaviou?r(?:al)?) "
     r"changes?|(?:behaviou?r|outputs?|results?|the api) (?:should|must|has to|have to|needs? to) (?:stay|"
     r"remain|be) (?:\S+ ){0,3}?(?:same|identical|unchanged)|same behaviou?r|(?:make|making) (?:it|this|"
     r"the code) (?:more )?idiomatic|giant (?:function|method|class|file|component)|god (?:class|object)|"
     r"split (?:it|this|them|that) up|pull (?:\S+ ){0,8}?out into|spaghetti|tidy (?:up|this|"
     r"it)|tech(?:nical)? "
     r"debt|giant (?:switch|if|conditional|case)|the same (?:\S+ ){0,3}?(?:shows up|appears|"
     r"is repeated|repeated) "
     r"in|into (?:their|its) own (?:classes|class|files?|modules?|functions?|components?)|keep the existing "
     r"(?:public )?(?:api|methods|interface|signatures?)|callback hell|swap (?:\S+ ){0,6}?(?:for|with) "
     r"(?:async|await|promises|hooks|the new)|magic (?:numbers|strings|values)|named constants|hard-?coded "
     r"(?:values|numbers|strings)|does everything|(?:impossible|painful|hard) to (?:test|change|extend)|"
     r"\d{3,} lines|guard clauses|flatten (?:this|the|it)|nested (?:if|ifs|conditionals|callbacks)|same "
     r"(?:\w+ ){0,2}?(?:messages|order|output|results|behaviou?r|json|responses?)|rename \S+ "
     r"(?:to|as) \S+|move "
     r"(?:\S+ ){0,4}?into (?:a|an|the|its|their) (?:own |separate |new )?(?:\S+ )?(?:layer|"
     r"module|class|service|"
     r"file|function|helper|package)|(?:repository|service) layer|from callbacks to|keep (?:the "
     r")?(?:exported|"
     r"public|existing) (?:\S+ )?(?:names|api|functions|signatures)|modern (?:python|javascript|"
     r"js|java|c\+\+|"
     r"syntax|idioms)|bring (?:this|it) up to (?:date|modern)|get rid of (?:the )?(?:global|module-level|"
     r"singleton)|dependency injection|repeats? the same|(?:written|defined) once)\b", CI),
    ("docs-words", "documentation", 4, "prose",
     r"\b(?:docstrings?|jsdoc|javadoc|tsdoc|rustdoc|godoc|doc ?comments?|sphinx|readme|changelog|"
     r"contributing(?:\.md)?|docs|documentation|documented|documenting|document (?:the|this|these|each|"
     r"all|every|our|my|it|how|what|its|their)|(?:inline |code )?comments? "
     r"(?:explaining|to explain|describing|for|to)|add (?:\S+ ){0,2}comments|release notes|man page|"
     r"user guide|how-to guide)\b", CI),
    ("docs-asks", "documentation", 4, "prose",
     r"\b(?:comments? (?:\S+ ){0,4}?(?:are|is|were|got) (?:stale|outdated|out of date|wrong|misleading|"
     r"obsolete)|(?:update|fix|rewrite|refresh|improve|redo) (?:the |all |these |those |our )?(?:code )?"
     r"comments|describe what (?:the code|it|this|each \w+) (?:does|is for)|(?:that|which) covers|"
     r"write (?:\S+ ){0,2}?(?:guide|wiki|page|section) (?:for|on|about|that)|(?:update|write|"
     r"add|draft|prepare) "
     r"(?:the |a |an |our )?(?:changelog|readme|release notes|docs|documentation|docstrings?|usage guide)\w*|"
     r"comments? (?:above|over|on top of|next to|before) (?:this|the|each|every)|fill in (?:\S+ ){0,3}?"
     r"(?:descriptions?|summar(?:y|ies)|docs|docstrings?)|(?:zero|no|missing|empty) (?:descriptions|docs|"
     r"docstrings)|descriptions? for (?:every|each|all)|(?:put|add|write) (?:\S+ )?comments? "
     r"(?:in|to|on|into)|"
     r"migration guide|migrating from|upgrade guide|docs page|"
     r"page for (?:users|developers|customers))\b", CI),
    ("format-words", "formatting", 4, "prose",
     r"\b(?:reformat\w*|formatt(?:ing|er)|format (?:the|this|these|that|all|my|our|it|everything|"
     r"each|every|code|files?|json|yaml|sql|xml|html|css)|pep ?8|indent\w*|whitespace|tabs? "
     r"(?:to|into|with) (?:\d+ )?spaces|"
     r"trailing (?:whitespace|commas?|spaces)|sort (?:the |all )?imports|unused imports|line too long|"
     r"pretty[- ]?print\w*|markdown table|wrap (?:these |the |all )?lines|align\w*|uppercas\w*|"
     r"lowercas\w*|camel ?case|snake[_ ]case|line endings|code style)\b", CI),
    ("layout-words", "formatting", 4, "prose",
     r"\b(?:tabs and spaces|spaces and tabs|spacing|brace (?:placement|style)|line up|psr-?\d+|\w+ fmt|"
     r"(?:sort|order|group|reorder|organi[sz]e) (?:\S+ ){0,2}?imports|imports? order|one per "
     r"line|order of (?:the )?imports|(?:no|zero|without(?: any)?) "
     r"logic changes?|re-?wrap\w*|\d+ (?:cols|columns|chars|characters)|wrap (?:\S+ ){0,4}?at \d+|(?:block|"
     r"flow)[- ]style)\b", CI),
    ("format-word", "formatting", 1, "prose", r"\bformat\w*", CI),
    ("format-tools", "formatting", 2, "prose",
     r"\b(?:prettier|(?:run|apply|use|with|using) black|black (?:formatting|style|formatter)|isort|gofmt|"
     r"rustfmt|clang-format|autopep8|yapf|ruff|eslint|stylelint|flake8|"
     r"pylint|lint\w*|E\d{3}|F\d{3})\b", CI),
    ("lint-errors", "formatting", 2, "prose",
     r"\b(?:lint\w*|ruff|eslint|flake8|pylint|stylelint|style|formatting) (?:errors?|warnings?|issues?|"
     r"violations?|complaints?)\b", CI),
    ("scaffold-words", "boilerplate", 4, "prose",
     r"\b(?:boilerplate|scaffold\w*|skeleton|starter|template|stubs?|set ?up a new|new project|bootstrap "
     r"(?:a|an|the)|from scratch|cookiecutter|create-react-app)\b", CI),
    ("project-files", "boilerplate", 3, "prose",
     r"(?:\bset ?up (?:a|an|the|my|our) (?:\S+ ){0,5}?(?:project|app|application|foundation|repo\w*|"
     r"environment|skeleton|structure|service)\b|\bproject structure\b|\b(?:dockerfile|"
     r"docker-compose(?:\.ya?ml)?|makefile|github actions|ci (?:workflow|pipeline|"
     r"config)|workflow|tsconfig(?:\.json)?|pyproject\.toml|setup\.py|package\.json|manifest(?: v3)?|"
     r"gitignore|helm chart|crud|dataclass|dto|pojo|getters?|setters?|from_dict)\b|\.eslintrc|"
     r"\.github/workflows)", CI),
    ("from-fields", "boilerplate", 4, "prose",
     r"\b(?:with (?:these|the following|those|the same) (?:fields|columns|properties|attributes)|"
     r"(?:models?|schemas?|entit(?:y|ies)|dtos?|structs?|types?|interfaces?|records?|(?:data )?classe?s?) "
     r"(?:\S+ ){0,3}?(?:for|from|matching) (?:this|the|that|these|our) (?:table|tables|json|payload|response|"
     r"fields|columns)|for (?:the|these|those) fields|matching (?:\S+ ){0,2}?(?:schema|model|type|dto)s?|"
     r"the usual|(?:new )?(?:app|service|project|repo|package|crate|module) called|manifests?|helm charts?|"
     r"wire up|the same way (?:\S+ ){0,3}?(?:is|are|was) done|(?:list|get|create|update|delete)(?:/(?:list|"
     r"get|"
     r"create|update|delete)){2,}|on (?:every )?(?:pr|push|pull request|commit|merge|tag)s?|cache the \w+|"
     r"resourceful|empty (?:\S+ ){0,2}?(?:controller|class|component|module|handler|service)s?|"
     r"set ?up (?:a|an|the|my|our) (?:\S+ ){0,2}?workspace)\b", CI),
    ("math-words", "math", 4, "prose",
     r"\b(?:prove|proof|integral|integrate|derivative|differentiat\w*|eigen\w*|theorem|lemma|probabilit\w*|"
     r"expected (?:value|number)|variance|combinator\w*|how many ways|permutations?|recurrence|closed[- ]"
     r"form|irrational|prime factor\w*|modulo|equations?|solve for|matri(?:x|ces)|determinant|positive "
     r"definite|latex|find x|logarithm\w*|polynomial\w*|series converge\w*|limit of|normal equation)\b", CI),
    ("math-notation", "math", 2, "full",
     r"\b[a-z]\s*\^\s*\(?[\da-z]|\bsqrt\s*\(|[∫∑√π∞≤≥]|\bd[xy]\b|\b\d+\s*[a-z]\s*[+\-]\s*\d+\s*=", CI),
    ("math-more", "math", 4, "prose",
     r"\b(?:(?:statistically )?significan(?:t|ce)|p-?values?|z[- ]tests?|t[- ]tests?|chi[- ]squared?|"
     r"confidence intervals?|standard (?:deviation|error)|hypothesis test\w*|null hypothesis|arrangements?|"
     r"how many (?:distinct|different|possible|unique)|show that (?:any|every|there|the|for|if|a|an)|"
     r"vertices|by induction|pigeonhole|expected value|binomial|bayes\w*|conditional probability|"
     r"derive (?:the|a|an|it|"
     r"this|that)|"
     r"derivation|jacobian|hessian|gradient of|partial derivatives?|chain rule|independent "
     r"(?:failures|events|"
     r"trials|random|variables)|failures? (?:are )?independent|(?:each )?with \d+(?:\.\d+)?% (?:availability|"
     r"uptime|probability|chance)|differentiab\w*|continuous at|epsilon-delta)\b", CI),
    ("architecture-words", "architecture", 4, "prose",
     r"\b(?:architect\w*|system design|microservices?|monolith\w*|service boundar\w*|event[- ]driven|"
     r"message (?:queue|bus|broker)|kafka|rabbitmq|pub/?sub|scalab\w+|horizontally|high[- ]level design|"
     r"infrastructure|multi[- ](?:tenant|region)|regions|failover|disaster recovery|high availability|"
     r"(?-i:ADR)|cqrs|event sourcing|monorepo|how should (?:I|we) structure|plugin system|distributed system|"
     r"load balanc\w*|sharding|background jobs|resilient)\b", CI),
    ("system-shape", "architecture", 4, "prose",
     r"\b(?:overall (?:flow|design|plan|approach|architecture|strategy|migration|picture)|whole system|"
     r"(?:zero|no|without) downtime|dual[- ]writes?|logical replication|service mesh|circuit[- ]breakers?|"
     r"(?:queues?|brokers?),? (?:and )?workers|workers? (?:and|\+) (?:a )?queues?|(?:across|between) "
     r"(?:\d+ |the |our |multiple |several |different |all )?(?:services|microservices|nodes|regions|"
     r"data ?cent(?:er|re)s|clusters)|\d+ (?:different )?(?:services|microservices)|migration (?:plan|"
     r"strategy)|keep (?:\S+ ){0,5}?in sync|current (?:setup|architecture|stack|infra\w*|topology)|data "
     r"residency|control plane|data planes?|regional|per region|cross-region|managed services?|replicat\w+|"
     r"\d+ pods|api gateway|bff|backend[- ]for[- ]frontend|\d+ teams|self-hosted|hosted (?:like|options?|"
     r"services?)|(?:end[- ]to[- ]end|overall|whole) system|system look like|ingest\w*|read-heavy|"
     r"write-heavy|"
     r"per-service|cdn|caching (?:layer|strategy|tier)|serverless|spiky (?:usage|traffic|load)|"
     r"scale (?:up|out|"
     r"down) (?:for|to|when|during)|autoscal\w*|the backend for|the whole site|goes down with it|cascad\w*|"
     r"bulkheads?|graceful degradation|single point of failure|\d+ tenants|containers on|edge "
     r"and (?:the )?cloud|"
     r"on-site|on-prem\w*|uplink|strangler|piece by piece|legacy (?:system|monolith|app)|"
     r"route traffic)\b", CI),
    ("flow-diagram", "architecture", 4, "prose", r"\S+ -> \S+ -> \S+", 0),
    ("design-words", "design", 4, "prose",
     r"\b(?:design (?:a|an|the) (?:\S+ ){0,3}?(?:api|schema|interface|data ?model|class(?:es)?|module|"
     r"format|protocol|endpoints?|database|tables?|types?|library|sdk)|api design|(?:rest|graphql|grpc) "
     r"(?:api|schema|endpoints?)|database schema|schema (?:for|design)|data models?|model (?:\S+ ){0,4}"
     r"(?:in postgres|in the database|relationships?)|many-to-many|entity[- ]relationship|ERD|class "
     r"hierarch\w*|design patterns?|(?:clean|good|nice) interface|abstraction|public api|function "
     r"signatures|json format|payload format|versioning|version it|(?:which|what) pattern)\b", CI),
    ("design-word", "design", 2, "prose", r"\bdesign\w*\b", CI),
    ("design-questions", "design", 3, "prose",
     r"\b(?:inherit\w*|inheritance|composition over|should (?:it|they|this|these|we|I) (?:be|just|remain|"
     r"stay|live|belong)|does (?:this|it|that) make sense|best (?:way|practice) to (?:structure|organi[sz]e|"
     r"model|represent|create)|what (?:would|should) go in|responsibilit\w*|where should \S+ (?:go|live)|"
     r"global (?:settings?|state|config\w*)|(?:one|single) source of truth)\b", CI),
    ("design-more", "design", 4, "prose",
     r"\b(?:(?:db|database|sql|postgres|mysql) schema|(?:what|which) tables|tables? (?:do|would|should) "
     r"(?:I|we) need|how (?:should|would|do) (?:I|we) model|lay (?:them|it|this|these) out|(?:file|message|"
     r"wire|event|binary|payload|storage) formats?|protobuf (?:messages?|schema)|evolve without breaking|"
     r"backwards?[- ]compat\w*|what would the (?:api|interface|signature)s? look like|builder pattern|"
     r"options object|error types|(?:one|a) big enum|an enum per|propose a (?:layout|structure|format|"
     r"schema)|(?:config|configuration|api|public|options?) surface|ergonomic\w*|data model for|protobuf|"
     r"how should (?:\S+ ){0,4}?be (?:represented|modell?ed|structured|stored|shaped)|what "
     r"should (?:the |our |"
     r"a )?(?:\S+ ){0,3}?(?:api|interface|payload|envelope|schema|format|contract|signature|"
     r"model|structure)s? "
     r"look like|how (?:should|would) (?:you|we|I) represent|how should the (?:api|interface|schema|model|"
     r"contract) (?:change|look|work)|class structure|type hierarchy|state machine)\b", CI),
    ("planning", "architecture", 3, "prose",
     r"\b(?:(?:create|make|write|draft|propose) a (?:\S+ )?plan|plan (?:for|how|out)|roadmap)\b", CI),
    ("performance-words", "optimization", 4, "prose",
     r"\b(?:optimi[sz]\w*|faster|speed (?:it |this |them )?up|slow\w*|performan\w*|latency|throughput|"
     r"bottleneck\w*|profil\w*|memory usage|memory footprint|out of memory|OOM\w*|cpu usage|complexity|"
     r"efficien\w*|cold start|startup time|re-?renders?|snappy|laggy|takes? \d+(?:\.\d+)? ?(?:s|ms|"
     r"seconds|minutes)\b|n\+1|sequential scan|what index|index(?:es)? (?:should|to add)|vectori[sz]\w*|"
     r"cache (?:the|its|these|those) (?:results?|responses?|calls?)|memoi[sz]\w*|shrink|binary size|"
     r"bundle size|reduce (?:the )?(?:size|time|memory|cpu|allocations|load|number of queries))"
     r"|\bO\(n(?:\^?\d| log n)\)", CI),
    ("perf-symptoms", "optimization", 4, "prose",
     r"\b(?:get (?:it|this|that|them) (?:\S+ )?(?:down|under|below)|lags?|lagg\w*|jank\w*|stutter\w*|"
     r"smooth(?:ly|er)?|fps|frame ?rate|flame ?graphs?|"
     r"pprof|hot ?(?:path|loop|spot)s?|tight loop|allocs|allocations?|gc (?:pressure|pauses?)|garbage "
     r"collect\w*|slim (?:\S+ )?down|(?:make|making) (?:it|this|that) (?:cheaper|lighter|leaner|smaller)|"
     r"lighthouse|first load|load time|millions of times|(?:load|run|start|build|render|respond)s? (?:\S+ )?"
     r"(?:faster|quicker|sooner)|make (?:it|this|that|them) (?:\S+ )?(?:fast|faster|"
     r"quick|quicker|snappy|snappier|lighter|smaller|cheaper)|(?:want|need|get) (?:it|this|"
     r"them) (?:\S+ ){0,3}?"
     r"(?:smaller|faster|lighter|leaner|cheaper|quicker|under|below|down to)|p(?:50|9\d)|under load|tail "
     r"latency|get it to fit|(?:won'?t|doesn'?t|does not) fit|takes forever|made (?:\S+ )?(?:fast|faster|"
     r"quicker)|broadcasting|numba|cython|simd|round ?trips?|a query per|one (?:query )?per "
     r"(?:row|item|order|"
     r"user|record)|cut down (?:on )?(?:the )?(?:number|time|size|memory))\b|\bO\((?:n[²³]|n\*\*\d|n\^\d)\)"
     r"|\btakes? (?:~|about |around |roughly |almost |over |like )?\d", CI),
    ("codegen-words", "code_generation", 3, "prose",
     r"\b(?:implement\w*|(?:write|create|build|generate|give me|make) (?:me )?(?:a|an|the|some)? ?(?:\S+ )"
     r"{0,3}?(?:function|class|method|script|program|endpoint|component|hook|query|regex|one-liner|cli|"
     r"parser|module|handler|middleware|service|page|form|widget|command|snippet|code)|add (?:a|an|the|"
     r"some) (?:\S+ ){0,3}?(?:endpoint|flag|option|feature|button|field|column|route|function|method|"
     r"command|page|setting|parameter|argument|handler)|add (?:pagination|validation|caching|logging|"
     r"retries|support for|auth\w*|a way to)|make (?:the|it|this) (?:\S+ )?(?:accept|support|handle|"
     r"return|send|use|work with)|one-liner)\b", CI),
    ("endpoint-ask", "code_generation", 3, "prose",
     r"\b(?i:add|implement|create|write|build) (?:a |an |the )?(?:new )?(?:GET|POST|PUT|PATCH|DELETE) /", 0),
    ("spec", "code_generation", 3, "prose",
     r"\b(?:(?:need|want|I'd like) (?:a|an) (?:\S+ ){0,6}?(?:toggle|switch|button|screen|page|"
     r"form|dialog|modal|"
     r"endpoint|command|flag|option|feature|cli|tool|script|function|component|library|service|bot|app)|"
     r"(?:it|this|that) (?:should|must|needs to):|fill in (?:the |this |these )?(?:\w+ )?(?:function|method|"
     r"body|bodies|implementation|stubs?|todos?|logic)|func(?:tion)? that|(?:a|an) (?:\w+ )?(?:function|func|"
     r"method|class|script|helper) (?:that|which|to))\b|(?-i:\bfill in [a-z]+[A-Z]\w*)", CI),
    ("question", "knowledge", 2, "prose",
     r"^\s*(?:what|what'?s|how|why|when|which|where|who|is|are|does|do|isn'?t|aren'?t)\b[^\n]*\?|"
     r"\b(?:what|where|why|how|which|who|when)\b[^.!?\n]*\?|\bam I (?:right|correct|missing)|"
     r"\b(?:what (?:is|are|does)|how does|meaning of|purpose of|pros and cons|tell me about|"
     r"don'?t change anything|overview|summar(?:y|ies|i[sz]e\w*)|walk me through|represents?)\b", CI),
    ("explain", "knowledge", 3, "prose",
     r"\b(?:explain\w*|ELI5|difference between|just explain|under the hood|how (?:does|do) "
     r"\S+ (?:decide|work|"
     r"know|handle|determine)|what exactly does|actually (?:guarantee|do|mean)s?|trying to understand|not "
     r"asking (?:you )?(?:for|to))\b", CI),
    ("understand", "knowledge", 2, "prose",
     r"\b(?:(?:don'?t|do not) (?:really )?(?:get|understand)|never (?:really )?understood|coming "
     r"from \w+|help me "
     r"understand|confused (?:about|by)|what(?:'s| is) the (?:point|purpose|idea) of|mental "
     r"model|what happens "
     r"(?:to|when|if))\b", CI),
)
PRIORITY = ("debugging", "code_review", "testing", "math", "formatting", "documentation", "optimization",
            "refactoring", "architecture", "design", "boilerplate", "code_generation", "knowledge")



def _required(seq: Any) -> set[str] | None:
    """Strings one of which every match of the parsed pattern `seq` contains (its longest run of
    literal characters, or those of a group it cannot skip), or None when there is no such set."""
    from re import _constants as c  # type: ignore[attr-defined]

    best = run = ""
    groups: list[Any] = []
    for op, av in seq:
        if op is c.LITERAL:
            run += chr(av)
            continue
        best, run = max(best, run, key=len), ""
        if op is c.BRANCH:
            groups.append(av[1])
        elif op is c.SUBPATTERN:
            groups.append([av[-1]])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            groups.append([av[2]])
    best = max(best, run, key=len)
    if len(best) >= 3:
        return {best}
    for branches in groups:
        found: set[str] | None = set()
        for b in branches:
            r = _required(b)
            if r is None:
                found = None
                break
            found |= r  # type: ignore[operator]
        if found:
            return found
    return {best} if best else None


def _prefilter(parsed: Any, flags: int) -> tuple[bool, tuple[str, ...], frozenset[str]] | None:
    """(case-insensitive, the strings one of which any match of the parsed pattern contains, longest
    first, and as a set); None: no such strings."""
    found = _required(parsed)
    if not found:
        return None
    folded = bool(flags & re.IGNORECASE)
    strings = {f.lower() if folded else f for f in found}
    return folded, tuple(sorted(strings, key=lambda f: (-len(f), f))), frozenset(strings)


def _first_chars(seq: Any) -> set[str] | None:
    """The characters (in both cases) a match of the parsed pattern `seq` can start with; None when it
    can start with any (a class such as \\w, a dot, a negation)."""
    from re import _constants as c  # type: ignore[attr-defined]

    out: set[str] = set()
    for op, av in seq:
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):  # zero width: the next item starts the match
            continue
        if op is c.LITERAL:
            return out | {chr(av).lower(), chr(av).upper()}
        if op is c.IN:
            for o, a in av:
                if o is c.LITERAL:
                    out |= {chr(a).lower(), chr(a).upper()}
                elif o is c.RANGE and a[1] - a[0] < 64:
                    out |= {f(chr(x)) for x in range(a[0], a[1] + 1) for f in (str.lower, str.upper)}
                elif o is c.CATEGORY and a is c.CATEGORY_DIGIT:
                    out |= set("0123456789")
                else:
                    return None
            return out
        if op is c.BRANCH:
            for branch in av[1]:
                first = _first_chars(branch)
                if first is None:
                    return None
                out |= first
            return out
        if op is c.SUBPATTERN:
            first = _first_chars(av[-1])
            return None if first is None else out | first
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            first = _first_chars(av[2])
            if first is None:
                return None
            out |= first
            if av[0] >= 1:
                return out
            continue  # it may be skipped: what follows may start the match too
        return None
    return None


def _compile(pattern: str, flags: int) -> tuple[re.Pattern[str], Any]:
    """A rule's pattern compiled, and the literal strings one of which its every match holds
    (`_prefilter`: the rule's regular expression runs only on a text that holds one). A rule that starts
    at a word boundary is put behind a lookahead of the characters its matches can start with: the
    engine then tries its many alternatives only where one of them can begin, not at every character
    (the rules' long alternations ran about twice as fast), with the same matches."""
    from re import _parser  # type: ignore[attr-defined]

    parsed = _parser.parse(pattern, flags)
    needs = _prefilter(parsed, flags)
    first = _first_chars(parsed) if pattern.startswith(r"\b") else None
    if first:
        chars = "".join(sorted(re.escape(ch) for ch in first))
        pattern = f"(?=[{chars}])(?:{pattern})"
    return re.compile(pattern, flags), needs


_COMPILED = [(name, task, weight, where, *_compile(pattern, flags))
             for name, task, weight, where, pattern, flags in _RULES]
RULES: tuple[tuple[str, str, int, str, re.Pattern[str]], ...] = tuple(r[:5] for r in _COMPILED)
_NEEDS = [r[5] for r in _COMPILED]


class _Strings:
    """Which of the case-insensitive prose rules' literal strings a lowered text holds, found in one pass:
    a regular expression of them all as a trie, tried (in a lookahead) at every character, finds there
    the longest string that starts there, and every string that is a prefix of it starts there too.
    Checking each rule's strings one by one cost ~800 substring searches a request. `rules_for` then
    names the rules worth trying: those rules only where a string of theirs is present, and every other
    rule (a short request holds the strings of a few, and walking all 44 rules to try them took a seventh
    of its inference)."""

    def __init__(self, needs: Sequence[Any], wheres: Sequence[str]):
        """`needs`: each rule's prefilter (None, or (folded, its strings, their set)); `wheres`: the
        part of a request each rule reads."""
        owners: dict[str, set[int]] = {}
        always: list[int] = []
        for i, (n, where) in enumerate(zip(needs, wheres, strict=True)):
            if n is not None and n[0] and where == "prose":
                for string in n[1]:
                    owners.setdefault(string, set()).add(i)
            else:
                always.append(i)
        strings = sorted(owners)
        trie: dict[str, Any] = {}
        for string in strings:
            node = trie
            for ch in string:
                node = node.setdefault(ch, {})
            node[""] = {}
        self._pattern = re.compile(f"(?=({_trie(trie)}))")
        self._within = {t: frozenset(s for s in strings if t.startswith(s)) for t in strings}
        self._owners = {s: frozenset(rules) for s, rules in owners.items()}
        self._always = frozenset(always)

    def rules_for(self, presents: Iterable[set[str]]) -> list[int]:
        """The indices (in order) of the rules whose evidence can be more than 0 in texts holding the
        strings `presents` names (what `present` found in each prose text): every rule that is not a
        case-insensitive prose rule, and those of them with a string present."""
        chosen = set(self._always)
        owners = self._owners
        for present in presents:
            for string in present:
                chosen |= owners[string]
        return sorted(chosen)

    def present(self, lowered: str) -> set[str]:
        found: set[str] = set()
        within = self._within
        for m in self._pattern.finditer(lowered):
            found |= within[m.group(1)]
        return found


def _trie(node: dict[str, Any]) -> str:
    """A trie of strings (a character -> its subtree; "" marks a string's end) as a regular expression
    that matches the longest string of it at a place."""
    alts = [re.escape(ch) + _trie(sub) for ch, sub in sorted(node.items()) if ch]
    if not alts:
        return ""
    body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
    return f"(?:{body})?" if "" in node else body


_STRINGS: _Strings | None = None  # made on first use (it takes a few milliseconds)


def _strings() -> _Strings:
    global _STRINGS
    if _STRINGS is None:
        _STRINGS = _Strings(_NEEDS, [r[3] for r in RULES])
    return _STRINGS
_RANK = {t: i for i, t in enumerate(PRIORITY)}


def _evidence(pattern: re.Pattern[str], text: str, lowered: str, needs: Any,
              present: set[str] | None = None) -> float:
    """How strongly `text` matches a rule: 0 for no match, 1 for one phrase, up to 2 for three or more
    different phrases (more of the same kind of evidence counts, with diminishing weight). `present`:
    the case-insensitive rules' strings `lowered` holds (`_Strings`), when they were looked for."""
    if needs is not None:
        folded, strings, string_set = needs
        if folded and present is not None:
            if present.isdisjoint(string_set):
                return 0.0
        elif not any(s in (lowered if folded else text) for s in strings):
            return 0.0
    found = set()
    for m in pattern.finditer(text):
        found.add(m.group(0).lower())
        if len(found) >= 3:
            break
    return 0.0 if not found else 1.0 + 0.5 * (len(found) - 1)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content
            if isinstance(p, Mapping) and p.get("type", "text") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def request_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The user's own request: the last user turn that is not a tool's result, inside the tag an agent
    wraps it in (Cline's <task>, Cursor's <user_query>), without the context the agent adds."""
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        raw = _text(m.get("content"))
        if len(raw) > 2 * MAX_TEXT:  # its start and its end
            raw = raw[:MAX_TEXT] + "\n" + raw[-MAX_TEXT:]
        if not raw or _TOOL_RESULT.match(raw):
            continue
        inside = [body for _, body in _INSIDE.findall(raw)]
        text = "\n".join(inside) if inside else _DROP.sub("", raw)
        if text.strip():
            return _ASK.sub("", text.strip())
    return ""


def attached_code(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the last user turn carries code (a fenced block, also in an agent's attached files)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return "```" in _text(m.get("content"))[:MAX_TEXT * 2]
    return False


def compile_rules(rules: Sequence[Any]) -> tuple[tuple[str, str, str, re.Pattern[str]], ...]:
    """The config's `[[gateway.rules]]` (InferenceRule records) as (name, task type, where, regex):
    the pattern, or any of the keywords as whole words, case-insensitive."""
    out = []
    for r in rules:
        parts = [f"(?:{r.pattern})"] if r.pattern else []
        if r.keywords:
            parts.append(r"\b(?:" + "|".join(re.escape(k) for k in r.keywords) + r")\b")
        out.append((r.name, r.task_type, r.where, re.compile("|".join(parts), CI | ML)))
    return tuple(out)


# -- the word model: what the labelled corpus's prompts teach, for the requests no rule reads well -------
# made by `python -m tests.inference_corpus --train`
WORDS_FILE = Path(__file__).with_name("inference_words.json")
RULE_WEIGHT = 2.0  # a rule's score counts this many times the word model's log-odds
# the least the word model's best type must lead the next by (log-odds) to decide a request no rule reads
WORDS_MARGIN = 3.0
# the most the word model's log-odds count against a type: on a short request they are mostly what it
# learned of each type's prompts in general (short questions are knowledge), and a rule's clear evidence
# must outweigh them
WORDS_CAP = 8.0
# how many of a request's words (and pairs) the word model must know to be trusted fully (with fewer,
# its log-odds count for less)
WORDS_FULL_FROM = 3
_WORD = re.compile(r"[a-z][a-z0-9_+#.'-]*[a-z0-9+#]|[a-z]")


def words(prose: str) -> set[str]:
    """What the word model reads of a request's prose (lowered): its words and its pairs of adjacent
    words."""
    found = _WORD.findall(prose)
    return {*found, *(f"{a} {b}" for a, b in zip(found, found[1:], strict=False))}


def prose_of(request: str) -> str:
    """A request without its code blocks, its start and its end when it is long: what the prose rules
    and the word model read."""
    prose = _FENCED.sub("\n", request)
    if len(prose) > HEAD + TAIL:
        prose = prose[:HEAD] + "\n" + prose[-TAIL:]
    return prose


def system_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The system (and developer) prompts of a chat request."""
    return "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))


def features(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """What the word model reads of a chat request: `words` of its request's prose."""
    return words(prose_of(request_of(messages)).lower())


class WordModel:
    """A Bernoulli naive Bayes over `words`, every task type as likely beforehand: for each type, the
    share of its labelled prompts holding each word or pair (`counts`, smoothed by `alpha`). `scores`
    gives each type's log-likelihood of a request's features, the words it never saw left out."""

    def __init__(self, types: Sequence[str], prompts: Sequence[int], counts: Mapping[str, Sequence[int]],
                 alpha: float):
        self.types = tuple(types)
        totals = [n + 2 * alpha for n in prompts]
        self.base = [0.0] * len(self.types)  # the log-likelihood of a request with none of the features
        self.rows: dict[str, tuple[float, ...]] = {}
        for feature, row in counts.items():
            present = [math.log((c + alpha) / t) for c, t in zip(row, totals, strict=True)]
            absent = [math.log((n - c + alpha) / t) for c, n, t in zip(row, prompts, totals, strict=True)]
            self.base = [b + a for b, a in zip(self.base, absent, strict=True)]
            self.rows[feature] = tuple(p - a for p, a in zip(present, absent, strict=True))

    @classmethod
    def load(cls, path: Path = WORDS_FILE) -> WordModel:
        doc = json.loads(path.read_text())
        return cls(doc["types"], doc["prompts"], doc["counts"], doc["alpha"])

    def scores(self, found: Iterable[str]) -> tuple[dict[str, float], int] | None:
        """Each type's log-likelihood of the features `found`, and how many of them it knows; None when
        it knows none of them."""
        get = self.rows.get
        rows = [row for row in map(get, found) if row is not None]
        if not rows:
            return None
        sums = map(sum, zip(*rows, strict=True))
        return {t: b + s for t, b, s in zip(self.types, self.base, sums, strict=True)}, len(rows)


_MODEL: WordModel | None = None


def word_model() -> WordModel:
    """The shipped word model (read on first use)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = WordModel.load()
    return _MODEL


def warm() -> None:
    """Read the word model and build the rules' string search now (the server starts with them), not
    on the first request that needs them (about 40 ms)."""
    word_model()
    _strings()


# An agent sends its task again with every turn (Cline's <task>, Claude Code's first message: the tool
# results that follow are not the request), so the answers for the requests asked for most recently are
# kept, keyed by the hash of all that the inference reads of them: an agent's later turns are not read
# again, however many other requests come between two of them (bench/inference.py: ~350 us a request of
# the corpus read, ~7-10 us answered from what is kept). A hash, not the text: no prompt outlives its
# request here (two requests of the 128 share a 64-bit hash about once in 10^17 lookups).
KEPT = 128
_SEEN: dict[int, tuple[str, str]] = {}


def infer(
    messages: Sequence[Mapping[str, Any]],
    task_types: Sequence[str],
    tools: Any = None,
    rules: Sequence[tuple[str, str, str, re.Pattern[str]]] = (),
) -> tuple[str, str]:
    """(task type, how it was found: `rule:NAME`, `learned` or `default`) for a chat request. `rules`
    (from `compile_rules`) are tried first, in order, and the first that matches decides; then the
    built-in rules weigh in on the request, its code and a short system prompt (at half weight), with
    the word model's log-odds of the request's prose (`RULE_WEIGHT`, `WORDS_CAP`, `WORDS_FULL_FROM`): a
    type with rule evidence is named by its strongest rule, one the words alone chose (by at least
    `WORDS_MARGIN` when no rule matched) is `learned`. With neither: code generation when the request
    holds code or tools come with it, else knowledge. Only types in `task_types` are answered.
    The answers for the `KEPT` requests asked for most recently are kept (`_SEEN`)."""
    request = request_of(messages)
    system = system_of(messages)
    # what the answer depends on: the request; a short system prompt whole, of a long one only that it is
    # long (and its start, which the config's rules read); the tools, the code a last turn carries, the
    # types and the rules
    short = len(system) <= SHORT_SYSTEM
    code_attached = attached_code(messages)
    key = hash((request, system if short else (None, system[:MAX_TEXT] if rules else None), bool(tools),
                code_attached, tuple(task_types), tuple(rules)))
    found = _SEEN.pop(key, None)
    if found is None:
        found = _inferred(request, system, code_attached, task_types, tools, rules)
        if len(_SEEN) >= KEPT:
            _SEEN.pop(next(iter(_SEEN)), None)  # the one asked for longest ago
    _SEEN[key] = found  # (last: the most recently asked for)
    return found


def _inferred(request: str, system: str, code_attached: bool, task_types: Sequence[str], tools: Any,
              rules: Sequence[tuple[str, str, str, re.Pattern[str]]]) -> tuple[str, str]:
    """`infer` of a request not kept: `request` and `system` are its request and its system prompts,
    `code_attached` whether its last user turn carries code (`attached_code`)."""
    known = set(task_types)
    for name, task, where, pattern in rules:
        if task not in known:
            continue
        if (where != "system" and pattern.search(request)) or (
            where != "user" and pattern.search(system[:MAX_TEXT])
        ):
            return task, f"rule:{name}"
    code = "\n".join(_FENCED.findall(request))
    prose = prose_of(request)
    parts = [("prose", prose, 1.0), ("full", request[:HEAD_FULL], 1.0), ("code", code[:HEAD_FULL], 1.0)]
    if 0 < len(system) <= SHORT_SYSTEM:
        parts.append(("prose", system, 0.5))
    # the strings the rules need, found in one pass over each prose text (they are short: a request's
    # head and tail, a short system prompt); the longer texts are searched string by string
    strings = _strings()
    texts: dict[str, list[tuple[str, str, float, set[str] | None]]] = {"prose": [], "full": [], "code": []}
    for part, text, k in parts:
        if text:
            low = text.lower()
            texts[part].append((text, low, k, strings.present(low) if part == "prose" else None))
    score: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for i in strings.rules_for(present for _, _, _, present in texts["prose"] if present is not None):
        (name, task, weight, where, pattern), needs = RULES[i], _NEEDS[i]
        if task not in known:
            continue
        w = 0.0
        for text, lowered, k, present in texts[where]:
            w = max(w, k * weight * _evidence(pattern, text, lowered, needs, present))
        if w:
            score[task] = score.get(task, 0.0) + w
            if w > best.get(task, (0.0, ""))[0]:
                best[task] = (w, name)
    found = word_model().scores(words(prose.lower()))
    learned = {} if found is None else {t: v for t, v in found[0].items() if t in known}
    n_known = 0 if found is None else found[1]
    if learned:
        # the rules' evidence and the word model's: each type's log-odds against the likeliest one's
        # (at most WORDS_CAP), trusted less on a request of few words it knows
        trust = min(1.0, n_known / WORDS_FULL_FROM)
        top = max(learned.values())
        least = min(learned.values())
        total = {t: RULE_WEIGHT * score.get(t, 0.0) + max(trust * (learned.get(t, least) - top), -WORDS_CAP)
                 for t in {*learned, *score}}
        ranked = sorted(total, key=lambda t: (-total[t], _RANK.get(t, len(_RANK))))
        task = ranked[0]
        if task in score:
            return task, f"rule:{best[task][1]}"
        runner_up = total[ranked[1]] if len(ranked) > 1 else -math.inf
        if score or total[task] - runner_up >= WORDS_MARGIN:
            return task, "learned"
    elif score:
        task = min(score, key=lambda t: (-score[t], _RANK.get(t, len(_RANK))))
        return task, f"rule:{best[task][1]}"
    # an agent (tools, or its long system prompt) or code in the request: most likely writing code
    agent = bool(tools) or len(system) > SHORT_SYSTEM
    fallback = "code_generation" if agent or code or code_attached else "knowledge"
    if fallback not in known:
        fallback = task_types[0]
    return fallback, "default"
