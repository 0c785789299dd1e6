"""Instruction templates of the four MoChat dialogue sets (paper, supplementary Tab. 9).

The English of every template is the paper's, word for word; only the placeholders are
Python format fields (`{motion}`, `{body_part}`, `{motion_with_gap}`, `{start}`, `{end}`).
The temporal answer follows the task statement, "From frame S to frame E.", which the
evaluator (`mochat.metrics.files.parse_span`) reads back.

The presence and follow-up templates at the end are MoChat's own, not the paper's: yes/no
questions, short "when" questions as a user types them in a session, and the one answer to
a question about an action the motion does not contain (NOT_IN_MOTION, no span).
"""

from __future__ import annotations

SKELETON = "<skeleton>"

BASIC_INSTRUCTIONS = (
    "Provide a brief description of the given action represented by the skeleton sequence.",
    "Write a terse but informative summary of the action depicted by the skeleton sequence.",
    "Share a concise interpretation of the action demonstrated in the skeleton sequence.",
    "Relay a brief, clear account of the action shown in the skeleton sequence.",
    "Render a clear and concise summary of the action sequence.",
    "Create a compact narrative representing the action portrayed in the skeleton sequence.",
    "Give a short and clear explanation of the subsequent action depicted by the skeleton "
    "sequence.",
    "Summarize the movement content of the action demonstrated by the skeleton sequence.",
    "Describe the action concisely as represented in the skeleton sequence.",
    "Offer a succinct explanation of the action presented in the skeleton sequence.",
    "Present a compact description of the action sequence’s key features.",
)

SPATIAL_INSTRUCTIONS = (
    "Describe the movements of the person’s {body_part} in detail.",
    "Please provide details about the actions of the person’s {body_part}.",
    "What actions is the person’s {body_part} performing?",
    "Tell me about the actions performed by the person’s {body_part}.",
)

GAP_FILLING_INSTRUCTION = "{motion_with_gap} Complete the content in brackets with left or right."
GAP = "( )"

TEMPORAL_INSTRUCTIONS = (
    "From which frame does {motion} start and at which frame does it end?",
    "What are the start frame ID and end frame ID of {motion}?",
    "Please tell me when {motion} was executed in this skeleton sequence.",
)
TEMPORAL_ANSWER = "From frame {start} to frame {end}."

# {action}: the base form of an action phrase ("kick with the left foot"); {motion}: its
# third-person form ("kicks with the left foot").
FOLLOWUP_TEMPORAL_INSTRUCTIONS = (
    "When does the person {action}?",
    "And when does the person {action}?",
    "From which frame to which frame does the person {action}?",
)
PRESENCE_INSTRUCTIONS = (
    "Did the person {action}?",
    "Does the person {action} in this skeleton sequence?",
    "Is there a moment where the person {motion}?",
)
PRESENCE_ANSWER = "Yes, the person {motion}."
# The trained answer to a "when" or yes/no question about an action that is not there.
NOT_IN_MOTION = "That does not happen in this motion."

# Body-part keywords for the spatial multi-turn set: the paper's five parts and synonyms.
BODY_PART_KEYWORDS: dict[str, tuple[str, ...]] = {
    "foot": ("foot", "feet", "toe", "toes", "heel", "heels", "ankle", "ankles"),
    "leg": ("leg", "legs", "knee", "knees", "thigh", "thighs", "shin", "shins"),
    "hand": ("hand", "hands", "fist", "fists", "palm", "palms", "finger", "fingers",
             "wrist", "wrists"),
    "arm": ("arm", "arms", "elbow", "elbows", "shoulder", "shoulders", "forearm", "forearms"),
    "torso": ("torso", "waist", "chest", "trunk", "hip", "hips", "spine", "abdomen",
              "upper body"),
}
BODY_PARTS = tuple(BODY_PART_KEYWORDS)


def with_skeleton(instruction: str) -> str:
    """The first human turn: the skeleton placeholder, a newline, the instruction."""
    return f"{SKELETON}\n{instruction}"


def says_not_in_motion(text: str) -> bool:
    """True for the answer NOT_IN_MOTION (case, spacing and the final stop aside)."""
    def norm(t: str) -> str:
        return " ".join(t.lower().replace("doesn't", "does not").rstrip(" .!").split())
    return norm(text) == norm(NOT_IN_MOTION)
