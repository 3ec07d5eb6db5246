"""Seeded generator of the project's labelled hibachi-catering messages (tone, intent, slots).

Templates, openers and closers are split into train-only and held-out-only families, so the held-out file
measures generalisation to phrasings the models never saw rather than recall of templates.
Run `python -m services.ml.domain_data` to rewrite services/ml/data/domain_{train,heldout}.jsonl.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from schemas.vocabulary import INTENTS, TONES

DATA_DIR = Path(__file__).with_name("data")

# ---- slot fillers: (surface, normalised value) -------------------------------------------------------------
PARTY = [
    ("{n} people", None),
    ("{n} guests", None),
    ("{n} ppl", None),
    ("party of {n}", None),
    ("{n} of us", None),
    ("{n} adults", None),
    ("{w} people", None),
    ("{w} guests", None),
    ("about {n} people", None),
    ("{n} persons", None),
    ("{n} folks", None),
    ("{n} pax", None),
    ("group of {n}", None),
    ("{w} of us", None),
]
NUM_WORDS = {
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    8: "eight",
    10: "ten",
    12: "twelve",
    15: "fifteen",
    20: "twenty",
    25: "twenty five",
    30: "thirty",
    40: "forty",
    50: "fifty",
    60: "sixty",
}
DATES = [
    "next Saturday",
    "this Friday",
    "tomorrow",
    "Jan 15",
    "12/31/2025",
    "the 4th of July",
    "Memorial Day weekend",
    "in two weeks",
    "Saturday",
    "next sat",
    "this sunday",
    "June 7th",
    "the 21st",
    "March 3",
    "8/14",
    "Labor Day weekend",
    "New Year's Eve",
    "next Friday",
    "Oct 12",
    "the 15th of August",
    "Sunday",
    "this weekend",
    "next weekend",
    "Christmas Eve",
    "May 24th",
    "in 3 weeks",
    "tmrw",
    "Thanksgiving",
    "the 30th",
    "September 20",
    "7/19",
    "Valentine's Day",
    "next Thursday",
    "April 5th",
]
TIMES = [
    "6pm",
    "7 pm",
    "5:30",
    "6:30 p.m.",
    "around 6",
    "noon",
    "the afternoon",
    "the evening",
    "14:00",
    "7:00pm",
    "8pm",
    "4:30pm",
    "5 o'clock",
    "around 7",
    "6ish",
    "1pm",
    "12:30",
    "lunch time",
    "sunset",
    "7:15",
    "6 PM",
    "half past six",
    "5pm",
    "3:00 pm",
    "18:00",
    "around 5:30",
]
FIRST = [
    "Dana",
    "Maria",
    "Kevin",
    "Priya",
    "Jamal",
    "Sofia",
    "Brandon",
    "Mei",
    "Luis",
    "Tasha",
    "Grace",
    "Omar",
    "Hannah",
    "Derek",
    "Aiko",
    "Carlos",
    "Whitney",
    "Raj",
    "Nina",
    "Tyler",
    "Fatima",
    "Greg",
    "Lena",
    "Marcus",
]
LAST = [
    "Lee",
    "Garcia",
    "Nguyen",
    "Patel",
    "Johnson",
    "Kim",
    "Okafor",
    "Rossi",
    "Smith",
    "Tanaka",
    "Brown",
    "Diaz",
]
EVENTS = [
    "birthday",
    "bday party",
    "graduation party",
    "anniversary",
    "backyard party",
    "company picnic",
    "wedding rehearsal",
    "bachelorette",
    "team offsite",
    "family reunion",
    "retirement party",
    "housewarming",
    "baby shower",
    "engagement party",
    "super bowl party",
    "sweet 16",
]
ITEMS = [
    "gyoza",
    "a third protein",
    "lobster",
    "filet mignon",
    "noodles",
    "fried rice",
    "extra shrimp",
    "edamame",
    "scallops",
    "lobster tails",
    "yakisoba",
    "sake",
]
PROTEINS = ["chicken", "steak", "shrimp", "salmon", "tofu", "scallops", "filet", "lobster"]
PLACES = [
    "backyard",
    "back yard",
    "driveway",
    "rooftop",
    "patio",
    "office parking lot",
    "lake house",
    "garage",
]


@dataclass
class Msg:
    text: str
    intent: str
    tone: str
    entities: dict[str, object] = field(default_factory=dict)
    sentiment: str = "neutral"
    frustrated: bool = False


# ---- core templates per intent. Placeholders: {ps} {date} {time} {event} {item} {protein} {place} {price} ----
# A template list's last entries (see HELD_OUT_EVERY) are held out, never trained on.
CORE: dict[str, list[str]] = {
    "booking_inquiry": [
        "do you guys do private hibachi parties? want one for {ps} on {date}",
        "can I hire a hibachi chef for {date}, {ps}",
        "we're hosting {ps} at the {place}, can you come cook on {date}",
        "need to book a chef asap for {date}",
        "I'd love to get you out for our {event}, {ps}, {date} around {time}",
        "interested in a hibachi night for {ps}",
        "could we get a chef at our {place} {date} at {time}",
        "hoping to lock in {date} for a {event}",
        "ready to book! {ps}, {date}",
        "I want hibachi catering at my house {date}",
        "can you cater our {event} for {ps}",
        "how can we reserve a chef for {ps}",
        "is it possible to book a chef for {date} evening",
        "we want to book you for {ps} around {time} on {date}",
        "looking for a hibachi chef for a {event} with {ps}",
        "want to get something on the calendar for {date}",
        "I'd like to book a hibachi chef for {ps} on {date}",
        "looking to book hibachi catering for {ps} {date} at {time}",
        "can we reserve a chef for our {event} on {date}? it's {ps}",
        "do you have availability {date} at {time} for {ps}",
        "want to set up a hibachi party at my {place} for {ps}",
        "we're planning a {event} and want hibachi for {ps} on {date}",
        "need a hibachi chef {date} for {ps} around {time}",
        "how do I book you guys for {date}",
        "is {date} open? we'd love to book for {ps}",
        "please book us for {date} at {time}, {ps}",
        "I want to book hibachi at home for {ps}",
        "could you come to our {place} {date}? {ps}, starting {time}",
        "we want to reserve your hibachi service for a {event}",
        "trying to lock in a date for {ps}, thinking {date}",
        "sign us up for {date} at {time} please, {ps}",
        "can I get a hibachi chef out here {date} for {ps}",
        "we'd like to schedule a hibachi dinner for {ps} at our {place} on {date}",
        "are you taking bookings for {date}? party of {n}",
        "hoping to book a private chef for {ps} on {date} at {time}",
        "reserve a chef for {date}, {ps}, outdoor event",
        "i wanna do hibachi for my {event}, {ps}",
        "book me in for {date}!! {ps}",
        "I'm interested in booking a chef for {ps} for a {event} on {date}",
        "we need hibachi catering for a {event} {date}, headcount is {n}",
        "what do I need to do to book {date} for {ps}",
        "let's make a booking: {date}, {time}, {ps}",
        "any chance you can do a {event} on {date}? roughly {ps}",
        "put us down for {date} please, {ps} at {time}",
    ],
    "pricing_question": [
        "what would it cost for {ps}",
        "how much do you charge per head",
        "how much is the travel fee",
        "what's the deposit to hold {date}",
        "can you send a quote for {ps}",
        "how much are kids",
        "is there a minimum for {date}",
        "how much more for {item}",
        "what's the rate for {ps} with {item}",
        "is gratuity included",
        "are your prices per person or flat",
        "how much should I budget for {ps}",
        "does {price} cover everything",
        "what's the total cost for a {event}",
        "any fees for a {place} setup",
        "give me a price for {ps} on {date}",
        "how much is it per person for {ps}",
        "what's the price for {ps} on {date}",
        "how much would hibachi for {ps} cost",
        "is there a travel fee to come to {place}s out of town",
        "what's your minimum spend",
        "how much is the deposit",
        "our budget is {price}, can you work with that for {ps}",
        "what do you charge for a {event}",
        "how much extra is {item}",
        "do you have a price list",
        "what's the total for {ps} with {item}",
        "is tip included in the price",
        "how much does it cost to add {item}",
        "is {price} per person right? for {ps}",
        "pricing for {ps}?",
        "can you give me a quote for {date}, {ps}",
        "what are your rates for kids",
        "do you charge extra on holidays like {date}",
        "what's the cheapest package",
        "can I get an estimate for {ps}",
        "is there a discount for groups of {n} or more",
        "how much for {ps} if we add {item}",
        "are there any hidden fees",
        "what does the deposit cost and is it refundable",
        "what would {ps} run me, ballpark",
        "is {price} enough for {ps}",
    ],
    "menu_question": [
        "which proteins come with the meal",
        "can you make a vegetarian plate for a few guests",
        "do you have options for people with allergies",
        "is {protein} one of the choices",
        "what's included in the dinner",
        "do you offer {item}",
        "can kids get chicken only",
        "what sides come with it",
        "do you have anything gluten free",
        "what kind of sauces come with it",
        "can we do all {protein}",
        "do you have a vegan option for {ps}",
        "is there dessert on the menu",
        "what are the protein choices",
        "does the meal include salad and soup",
        "can the chef skip the onion volcano",
        "what proteins can we choose from",
        "do you have vegetarian options",
        "can you do gluten free for a couple of guests",
        "what comes with the standard meal",
        "is {item} available as an add on",
        "do you have a kids menu",
        "can we get {protein} and {protein2}",
        "one of our guests has a shellfish allergy, can you cook without shrimp",
        "what sauces do you bring",
        "is the fried rice included",
        "do you do vegan hibachi",
        "what's on the menu",
        "do you serve {item}",
        "is the {protein} halal",
        "do you bring dessert",
        "are the noodles made with egg",
        "can I see the menu options for {ps}",
        "what appetizers do you offer",
        "is salad and soup included with the meal",
        "do you have a dairy free option",
        "what kind of {protein} do you use",
        "can the chef cook {protein} well done for some guests",
        "do you have any nut free options",
        "is {item} on the menu",
        "what's in the yum yum sauce",
    ],
    "scheduling_question": [
        "what time would the chef get here for a {time} start",
        "how long does the chef stay",
        "do you have anything open {date}",
        "how soon can you come out",
        "is {time} on {date} available",
        "how much time do you need to set up",
        "what's the latest you can start",
        "can you do an early start around {time}",
        "how far ahead should I book for {date}",
        "when should the grill area be ready",
        "are weekends usually booked up",
        "how long is the whole event",
        "can the chef arrive early",
        "are you free {date} at {time}",
        "what days are you available next month",
        "what time should we expect the chef",
        "what time does the chef arrive",
        "how long does the chef need to set up",
        "how long does the whole thing take",
        "are you available on {date}",
        "do you work on weekends",
        "can the chef come at {time} on {date}",
        "how early should we have the grill area ready",
        "how far in advance do I need to book",
        "is {date} still open",
        "what time slots do you have {date}",
        "when will the chef get here",
        "does the chef show up before {time}",
        "how long is the cooking show",
        "can you start as late as {time}",
        "when do I need to confirm the headcount",
        "is there a time limit for the party",
        "how late can the chef stay",
        "what's the earliest start time {date}",
        "do you do lunch events around {time}",
        "how much notice do you need for {date}",
        "when does the chef usually arrive for a {time} dinner",
        "what time do you open for bookings on {date}",
        "how long will setup and cleanup take",
        "is {time} too late to start",
        "what times are still free {date}",
    ],
    "complaint": [
        "the chef never arrived for our {event}",
        "we were charged more than the quote",
        "the food was way too salty",
        "the chef was an hour late on {date}",
        "I want a refund, the service was awful",
        "nobody answered the phone when the chef was late",
        "our {protein} was raw in the middle",
        "the chef burned the rice",
        "you guys ruined my {event}",
        "I'm not happy with how {date} went",
        "the chef didn't bring enough food for {ps}",
        "we never got the {item} we paid for",
        "the chef was rude to my guests",
        "I'm still waiting for someone to call me back",
        "there was grease all over our {place}",
        "the chef left early",
        "the chef showed up an hour late to our {event}",
        "the food was cold and the chef was rude",
        "you charged my card twice",
        "nobody showed up on {date}, we had {ps} waiting",
        "the {protein} was undercooked",
        "we were overcharged for {item} we never got",
        "the chef left a huge mess in our {place}",
        "still waiting on my refund",
        "this is unacceptable, no one answered my calls",
        "half the guests didn't get {protein}",
        "your chef was on his phone the whole time",
        "we paid for {item} and it never came",
        "the portions were way too small for {ps}",
        "I've emailed three times and got no response",
        "the grill smoked out the whole {place}",
        "the chef forgot the fried rice",
        "we asked for no shellfish and they cooked shrimp anyway",
        "the chef was drunk",
        "terrible experience at our {event}",
        "my deposit was never returned",
        "the chef cancelled last minute on {date}",
        "I was promised {item} and didn't get it",
        "very disappointed with the service on {date}",
        "the food made people sick",
        "your booking system double booked us",
        "worst {event} ever because of the late chef",
    ],
    "modification_request": [
        "change our party to {ps}",
        "can we move the event to {date}",
        "switch the start to {time}",
        "we need to cancel, sorry",
        "add {item} to the booking",
        "make it {ps} instead",
        "please update the date to {date}",
        "can we change from {protein} to {protein2}",
        "could we reschedule for {date} at {time}",
        "we're down to {ps} now",
        "drop the {item} please",
        "push the start back to {time}",
        "actually we'll be {ps}",
        "can we change the address to our {place}",
        "I need to change my booking to {date}",
        "please add {n} more guests",
        "actually make it {ps}",
        "can we change the date to {date}",
        "we need to move our booking to {date} at {time}",
        "please change our headcount from {n0} to {n}",
        "can we push the start time to {time}",
        "I need to cancel my booking for {date}",
        "add {item} to our order please",
        "we'll have {ps} now instead",
        "can we switch {protein} to {protein2}",
        "change the time to {time} please",
        "we need to reschedule to {date}",
        "sorry, I meant {date}, not the 12th",
        "update the party size to {n}",
        "can you drop {item} from the order",
        "we have {n} more guests coming, so {ps} total",
        "move us to {time} instead",
        "please cancel the {event} booking",
        "can we upgrade to {item}",
        "bump it up to {ps}",
        "could we move it from {time0} to {time}",
        "wait, make that {date} at {time}",
        "remove {item}, we don't need it anymore",
        "we need to change the location to our {place}",
        "can we add {item} for everyone",
        "change my reservation to {ps} on {date}",
        "scratch that, we want {time} instead",
    ],
    "other": [
        "hey",
        "thank u",
        "sounds great",
        "ok cool",
        "what's up",
        "who is this",
        "is this a real person",
        "perfect thanks",
        "nvm",
        "ok bye",
        "good night",
        "alright",
        "yep",
        "nope",
        "hmm",
        "wow",
        "you there?",
        "sure",
        "I'll think about it",
        "let me check with my wife",
        "that's all for now",
        "have a good one",
        "test",
        "???",
        "hello",
        "hi there",
        "thanks",
        "ok sounds good",
        "who am I talking to",
        "are you a bot",
        "lol",
        "what's the weather like",
        "asdfgh",
        "never mind",
        "cool",
        "good morning",
        "can I talk to a human",
        "got it",
        "thank you so much",
        "do you guys have a website",
        "how did you get my number",
        "bye",
        "what's your instagram",
        "do you sell gift cards",
        "k",
        "yes",
        "no thanks",
        "haha nice",
        "are you hiring chefs",
        "is this the right number",
        "see you then",
        "great, thanks for the info",
    ],
}
# Train-only templates: more ways real customers phrase each intent. They never enter the held-out split, so
# the held-out file (built from CORE's held-out templates with its own seed) is unchanged by them.
EXTRA_TRAIN: dict[str, list[str]] = {
    "booking_inquiry": [
        "my wife's turning 40 and we want a hibachi chef at the house {date}, {ps}",
        "saw you at a friend's party, can we get you for our {event} on {date}",
        "do you travel to the {place}? want to book for {ps}",
        "we'd like you for a {event}, {ps}, {date}, evening start",
        "hi can u do {date} for {ps}? backyard hibachi",
        "trying to plan a surprise {event} with a hibachi chef, {ps}",
        "looking at {date} for {ps}, how do we get this booked",
        "what's the process to get a chef for our {event}",
        "we want the full hibachi experience at home for {ps}",
        "can I get you out to the {place} for a {event}",
        "need a chef for a corporate lunch {date}, around {ps}",
        "would love to have a hibachi chef for {ps} on {date} if you're around",
        "is it too late to get a chef for {date}? {ps}",
        "our office wants hibachi for {ps} {date}",
        "booking inquiry for a {event} on {date}",
        "we'd like to go ahead and book, {date} at {time} works",
        "please reserve {date} for us, it's a {event}",
        "first time doing this, want a hibachi dinner at home for {ps}",
        "can you do a hibachi party for my kid's {event}",
        "hire a hibachi chef for {date}?",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "hey we're doing a {event} at our place {date}, any chance you can do hibachi for {ps}",
        "my company wants a team dinner with a hibachi chef, {ps}, sometime {date}",
        "i'd like to book the hibachi package for {ps}",
        "do you still take reservations for {date}? we've got {ps}",
        "can we set up a hibachi night for {ps} at the {place}",
        "interested in your private chef service for {date}",
        "need hibachi for a {event}, thinking {date} around {time}",
        "we'd like to hire you for a dinner party, {ps}",
        "can you guys cater a {event} at my house",
        "we're ready to commit to {date} at {time}, {ps}",
        "would you be able to cook for {ps} at a {event} {date}",
        "planning a hibachi dinner for my parents, {ps}, can you do it",
        "my daughter wants hibachi for her {event}, can you come {date}",
        "requesting a hibachi chef for {date}, approx {ps}",
        "I'd like to schedule hibachi at our house {date}",
        "we want to do this! {ps} at the {place}, {date}",
    ],
    "pricing_question": [
        "ballpark cost for {ps}?",
        "whats it gonna run for {ps} on {date}",
        "do kids eat free or is it full price",
        "how much do you charge to travel to the {place}",
        "are drinks extra or included in the price",
        "send me pricing for a {event}",
        "what's the per person rate for adults",
        "does the price go down for bigger groups like {ps}",
        "how much is a {event} for {ps} all in",
        "what's the cost breakdown, food vs service",
        "is the deposit taken off the final bill",
        "do you take card or only cash",
        "how much do you charge for a second chef",
        "is there an extra charge for {item}",
        "what would {ps} with {item} come to",
        "could we do it for around {price}",
        "any cheaper options for a small group",
        "how much would a {event} for {ps} run",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "what are your packages and how much are they",
        "how much does a hibachi party for {ps} usually cost",
        "do you charge by the hour or per guest",
        "what's the cost if we have {ps} and a few kids",
        "how much extra for a weekend date like {date}",
        "are taxes included in your quote",
        "do you offer any deals for a {event}",
        "how much is the upgrade to {item}",
        "whats the damage for {ps}",
        "can you tell me your rates",
        "is the price different for kids under 12",
        "do you have a payment plan",
        "what would it be per plate for {ps}",
        "how much would it cost to have you at the {place}",
        "what's the most affordable option for {ps}",
    ],
    "menu_question": [
        "what comes in the standard package",
        "can we swap {protein} for {protein2} for a few people",
        "do you have options for kids who are picky eaters",
        "is everything cooked in peanut oil",
        "what veggies do you grill",
        "can you leave the onions out for some guests",
        "do you cook with butter or oil",
        "is there a pescatarian option",
        "are the sauces homemade",
        "is the {protein} wild caught",
        "can we pick two proteins per person",
        "does the meal come with rice and noodles",
        "what's your most popular protein",
        "can the chef do mild instead of spicy for the kids",
        "do you have low carb options",
        "is there soy in the sauces",
        "can you make the fried rice without egg",
        "what's included with each plate",
        "can guests mix and match {protein} and {protein2}",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "what kind of oil do you cook with",
        "can we get extra veggies instead of {protein}",
        "do the kids plates come with fried rice",
        "what's in the fried rice",
        "do you have any keto friendly options",
        "can you accommodate a guest with a sesame allergy",
        "can I choose the proteins for each guest",
        "is the steak ribeye or sirloin",
        "what desserts do you have",
        "does the {protein} come marinated",
        "is the food spicy at all",
        "can you do a plant based plate for a few of the {ps}",
        "what sauces go with the {protein}",
        "do you use msg",
        "any options for someone who doesn't eat pork",
        "what appetizers come before the main course",
    ],
    "scheduling_question": [
        "what time should we tell guests dinner starts if the chef comes at {time}",
        "how long does setup usually take before we eat",
        "are you booked {date} or is there still room",
        "can you do two events on the same day",
        "how early do you show up before the food starts",
        "any openings {date} evening",
        "what's your availability like in december",
        "does the chef need time after to clean up",
        "how many hours is the chef there total",
        "do you do weekday events or only weekends",
        "when is the latest I can book for {date}",
        "what time does the cooking actually start",
        "is {date} still available for an evening event",
        "can the chef stay later if the party runs long",
        "how much time should we plan for the whole dinner",
        "do you still have slots {date} around {time}",
        "when would the chef leave if we start at {time}",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "how long before dinner does the chef arrive",
        "is {date} booked already",
        "do you have any openings in the next two weeks",
        "how many events do you do on a saturday night",
        "can the chef come at lunch time on a weekday",
        "what hours do you work",
        "when is your next available weekend",
        "how quickly can you confirm a date",
        "does the whole meal take about two hours",
        "could the chef show up at {time} and be done by 9",
        "if we start at {time} when will it wrap up",
        "are you still doing events in the winter",
        "how long does the chef need the grill area for",
        "what's the soonest date you have open",
        "would {time} work or is that too early for you",
    ],
    "complaint": [
        "the chef showed up 45 minutes late and didn't apologize",
        "half the food was burnt",
        "we were told {ps} would be fine but you ran out of food",
        "no one confirmed our booking and the chef never came",
        "I got charged a fee nobody mentioned",
        "the chef was really rude to my mother",
        "the rice was cold and the steak was tough",
        "still haven't gotten my deposit back",
        "your chef left trash all over the {place}",
        "this was supposed to be special and it was a disaster",
        "the chef didn't know how to use the grill",
        "we paid extra for {item} and never saw it",
        "I've called four times and no one calls back",
        "very unhappy, the show was boring and the food was bland",
        "my guests got sick after the {event}",
        "you charged the wrong card",
        "the chef showed up without the {protein}",
        "really disappointed, nothing like the reviews",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "the chef never showed and we had a house full of guests",
        "our food came out burnt and the chef didn't care",
        "you overcharged us by $200",
        "we were supposed to get {item} but the chef said it wasn't included",
        "I am very upset about the {event}, nothing went as planned",
        "the grill set off our smoke alarm and the chef just laughed",
        "we waited two hours for the chef",
        "the shrimp tasted off",
        "your team never sent the receipt I asked for",
        "the chef made inappropriate jokes in front of the kids",
        "we got the wrong order, nobody asked for {protein}",
        "this was a total waste of money",
        "the chef spilled oil all over our patio furniture",
        "my card got charged before the event without asking",
        "we're still waiting for an answer about our complaint",
        "the chef packed up after 40 minutes",
    ],
    "modification_request": [
        "can we bump the headcount up to {ps}",
        "we lost a few people, it's {ps} now",
        "need to push our {event} to {date}",
        "can I swap the {protein} for {protein2}",
        "please take {item} off our order",
        "can we start an hour later, like {time}",
        "switch our date to {date} if possible",
        "change of plans, we're doing {date} instead",
        "can we add a second chef to the booking",
        "our address changed, we're at the {place} now",
        "can you update my booking to {ps} guests",
        "we'd like to move everything up to {time}",
        "I need to cancel the reservation for {date}",
        "can we go from {n0} to {n} people",
        "we want to add {item} for the whole group",
        "my number of guests went up to {n}",
        "please change the booking from {date} to next month",
        "let's do {time} instead of {time0}",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "can we change the headcount, a few more people are coming",
        "we need to shift the time to {time}",
        "is it possible to move our date to {date}",
        "a couple people dropped out, can you adjust to {ps}",
        "replace the {protein} with {protein2} on our order",
        "we need to change the venue to the {place}",
        "can we postpone the {event}",
        "I have to cancel our {date} booking, family emergency",
        "we want to add a kids table, {n} kids",
        "can we extend the chef's time by an hour",
        "change the name on the booking please",
        "can we do {time} on {date} instead of what we booked",
        "update: we're now {ps}",
        "our guest count changed to {n}",
        "please remove one protein from the package",
        "can I reschedule, something came up",
    ],
    "other": [
        "ok thank you",
        "great talk soon",
        "sorry wrong chat",
        "hold on let me ask my husband",
        "ill get back to you",
        "awesome!!",
        "👍",
        "thanks for getting back to me",
        "ok",
        "morning!",
        "cool beans",
        "do you know any good DJs",
        "where are you guys located",
        "how long have you been in business",
        "can you call me instead",
        "stop",
        "is this still hibachi guys",
        "happy holidays!",
        "lol my bad",
        "what's your email",
        "wait what",
        "hello? anyone there",
        # second batch: wider real vocabulary (dietary words, logistics, billing, guest-count changes)
        "thanks so much, you've been super helpful",
        "ok will do",
        "one sec",
        "I'll talk to my husband and get back to you",
        "are you guys a franchise",
        "do you have a physical restaurant",
        "how do I leave a review",
        "sorry, sent that by accident",
        "good evening",
        "never mind, we figured it out",
        "who owns the company",
        "what does hibachi mean",
        "we're good, thanks",
        "lmao",
        "just checking in",
        "do you have a referral program",
    ],
}
HELD_OUT_EVERY = 4  # every 4th template (index % 4 == 3) belongs to the held-out split only

OPENERS: dict[str, list[str]] = {
    "formal": [
        "Good afternoon,",
        "Hello,",
        "Good morning,",
        "Dear team,",
        "Greetings,",
        "Good evening,",
        "To whom it may concern,",
        "Hello there,",
    ],
    "casual": ["hey!", "yo", "heyy", "sup guys", "hey hey", "ok so", "hiii", "lol ok", "ayy", "heya"],
    "anxious": [
        "Hi, sorry to bother you,",
        "Hi, I'm a little worried,",
        "um hi,",
        "Hi, I'm kind of stressed,",
        "Sorry if this is a dumb question but",
        "Hi, quick panic question,",
        "I'm getting nervous,",
        "Hi, I really hope you can help,",
    ],
    "warm": [
        "Hi there! 😊",
        "Hello friends!",
        "Hi!! Hope you're having a great day!",
        "Hey there, hope all is well!",
        "Hi lovely people!",
        "Hello! We loved you last time!",
        "Hi! Hope your week is going well 🙂",
        "Hiya, so happy I found you!",
    ],
    "direct": ["", "", "", "Quick one:", "Question:", "FYI:", "", "Need this:"],
}
CLOSERS: dict[str, list[str]] = {
    "formal": [
        "Thank you for your assistance.",
        "I look forward to your reply.",
        "Kind regards.",
        "Thank you in advance.",
        "Please advise.",
        "Sincerely appreciated.",
        "Best regards.",
        "I appreciate your time.",
    ],
    "casual": ["thx!", "lmk 🤙", "lol", "ty", "😎", "🔥🔥", "cheers", "lmk asap", "haha", "k thx"],
    "anxious": [
        "I really hope that's ok...",
        "please let me know soon, I'm worried",
        "is that going to be a problem??",
        "sorry, I just want to make sure",
        "I'm really nervous about this",
        "what if something goes wrong?",
        "please tell me it's not too late",
        "I hope this works out 😟",
    ],
    "warm": [
        "Thank you so much! ❤️",
        "Can't wait! 🥳",
        "You guys are the best!",
        "We're so excited!",
        "Thanks a bunch, really appreciate you!",
        "Have a wonderful day! 😊",
        "So grateful, thank you!",
        "Looking forward to it, thank you!!",
    ],
    "direct": ["", "Answer asap.", "Thanks.", "", "Yes or no?", "", "Confirm.", "Reply today."],
}
SIGNOFF = {
    "formal": "Regards, {first} {last}",
    "casual": "- {first}",
    "warm": "Thanks, {first}!",
    "anxious": "- {first}",
    "direct": "- {first}",
}
INTRO = [
    "My name is {first} {last}.",
    "This is {first} from the HR team.",
    "I'm {first}.",
    "It's {first} again.",
    "{first} here.",
]

SLANG = {
    "you": "u",
    "are": "r",
    "people": "ppl",
    "please": "pls",
    "thanks": "thx",
    "want to": "wanna",
    "going to": "gonna",
    "tomorrow": "tmrw",
    "because": "bc",
    "to be honest": "tbh",
    "birthday": "bday",
}
EMOJI = {
    "casual": ["😂", "🙌", "🤙", "😅", "🔥", "👀"],
    "warm": ["😊", "❤️", "🥰", "🎉", "🙏"],
    "anxious": ["😬", "😟", "🙏", "😰"],
    "formal": [],
    "direct": [],
}


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op < 0.7:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _style(template: str, tone: str, rng: random.Random) -> str:
    """Tone-specific surface noise on the template, before slot fillers are inserted (they stay exact)."""
    parts = re.split(r"(\{[a-z0-9]+\})", template)
    out = []
    for p in parts:
        if p.startswith("{"):
            out.append(p)
            continue
        s = p
        if tone in ("casual", "direct") and rng.random() < 0.5:
            for k, v in SLANG.items():
                if rng.random() < 0.6:
                    s = re.sub(rf"\b{k}\b", v, s)
        if rng.random() < 0.35:
            s = " ".join(_typo(w, rng) if rng.random() < 0.08 else w for w in s.split(" "))
        out.append(s)
    return "".join(out)


def _direct(text: str) -> str:
    """Strip pleasantries and hedges: direct customers write terse requests."""
    text = re.sub(
        r"^(?:I'd like to|I want to|can we|could you|please|I'm interested in|we'd like to|hoping to)\s+",
        "",
        text,
        flags=re.I,
    )
    return text


def _fill(template: str, rng: random.Random, ents: dict[str, object]) -> str:
    n = rng.choice([4, 6, 8, 10, 12, 15, 18, 20, 22, 25, 30, 35, 40, 45, 50, 60, 75, 100])
    out = template
    if "{ps}" in out or "{n}" in out:
        form, _ = rng.choice(PARTY)
        if "{w}" in form and n not in NUM_WORDS:
            form = form.replace("{w}", "{n}")
        surface = form.format(n=n, w=NUM_WORDS.get(n, str(n)))
        out = out.replace("{ps}", surface).replace("{n}", str(n))
        ents["party_size"] = n
    if "{n0}" in out:
        out = out.replace("{n0}", str(max(2, n - rng.choice([2, 4, 5, 10]))))
    if "{date}" in out:
        d = rng.choice(DATES)
        out = out.replace("{date}", d)
        ents["date"] = d
    if "{time0}" in out:
        out = out.replace("{time0}", rng.choice(["5pm", "6pm", "4:30"]))
    if "{time}" in out:
        t = rng.choice(TIMES)
        out = out.replace("{time}", t)
        ents["time"] = t.removeprefix("the ")
    p1, p2 = rng.sample(PROTEINS, 2)
    price = rng.choice(["$55", "$1,500", "$2000", "$45 a head", "$800", "$60 per person", "500 bucks", "$3k"])
    return (
        out.replace("{event}", rng.choice(EVENTS))
        .replace("{item}", rng.choice(ITEMS))
        .replace("{protein}", p1)
        .replace("{protein2}", p2)
        .replace("{place}", rng.choice(PLACES))
        .replace("{price}", price)
    )


def _extra_fact(intent: str, rng: random.Random, ents: dict[str, object]) -> str:
    """A second fact in the same message, as real customers pile several into one turn."""
    choices = []
    if "date" not in ents:
        choices.append(("date", "it's for {date}"))
    if "time" not in ents and intent not in ("other", "complaint"):
        choices.append(("time", "starting at {time}"))
    if "party_size" not in ents and intent not in ("other",):
        choices.append(("party_size", "we'll have {ps}"))
    choices.append(("none", "it's for my {event}"))
    choices.append(("none", "we're in the {place}"))
    _, tmpl = rng.choice(choices)
    return _fill(tmpl, rng, ents)


def _sentiment(intent: str, tone: str) -> tuple[str, bool]:
    if intent == "complaint":
        return "negative", tone != "formal" or True
    if tone == "warm":
        return "positive", False
    if tone == "anxious":
        return "negative", False
    return "neutral", False


def generate(n: int, *, held_out: bool, seed: int) -> Iterator[Msg]:
    rng = random.Random(seed)
    side = 3 if held_out else None
    for _ in range(n):
        intent = rng.choices(INTENTS, weights=[3, 2, 2, 2, 2, 2, 2])[0]
        tone = rng.choice(TONES)
        pool = [t for i, t in enumerate(CORE[intent]) if (i % HELD_OUT_EVERY == 3) == (side is not None)]
        if not held_out:
            pool += EXTRA_TRAIN[intent]
        openers = [
            o for i, o in enumerate(OPENERS[tone]) if (i % HELD_OUT_EVERY == 3) == held_out
        ] or OPENERS[tone]
        closers = [
            c for i, c in enumerate(CLOSERS[tone]) if (i % HELD_OUT_EVERY == 3) == held_out
        ] or CLOSERS[tone]
        ents: dict[str, object] = {}
        template = rng.choice(pool)
        core = _fill(_style(template, tone, rng), rng, ents)
        if tone == "direct":
            core = _direct(core)
        pieces = []
        if tone != "direct" or rng.random() < 0.4:
            pieces.append(rng.choice(openers))
        if intent != "other" and rng.random() < 0.15:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            intro = rng.choice(INTRO).format(first=first, last=last)
            pieces.append(intro)
            ents["name"] = (
                intro.split(" from")[0]
                .replace("My name is ", "")
                .replace("This is ", "")
                .replace("I'm ", "")
                .replace("It's ", "")
                .replace(" again", "")
                .replace(" here", "")
                .rstrip(".")
            )
        pieces.append(
            core + ("?" if re.match(r"(how|what|is|are|do|can|could|does|when|any)\b", core, re.I) else "")
        )
        if intent not in ("other",) and rng.random() < 0.35:
            pieces.append(_extra_fact(intent, rng, ents))
        if rng.random() < 0.75:
            pieces.append(rng.choice(closers))
        if "name" not in ents and intent != "other" and rng.random() < 0.1:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            sign = SIGNOFF[tone].format(first=first, last=last)
            pieces.append(sign)
            ents["name"] = sign.split(", ", 1)[1].rstrip("!") if ", " in sign else first
        text = " ".join(p for p in pieces if p)
        if tone == "casual":
            text = text.lower() if rng.random() < 0.7 else text
            if rng.random() < 0.4:
                text = re.sub(r"[.,]", "", text)  # run-on, no punctuation
        if EMOJI[tone] and rng.random() < 0.4:
            text += " " + rng.choice(EMOJI[tone])
        if tone == "anxious" and rng.random() < 0.3:
            text = text.replace("?", "??")
        if tone == "direct" and rng.random() < 0.3:
            text = text.rstrip("?.! ") + "."
        sentiment, frustrated = _sentiment(intent, tone)
        yield Msg(re.sub(r"\s+", " ", text).strip(), intent, tone, ents, sentiment, frustrated)


def to_row(i: int, m: Msg, split: str) -> dict[str, object]:
    entities = {k: m.entities.get(k) for k in ("party_size", "date", "time", "name")}
    return {
        "id": f"teppan-{split}-{i}",
        "source": "teppan_domain",
        "split": split,
        "text": m.text,
        "intent": m.intent,
        "entities": entities,
        "tone": m.tone,
        "annotated": {"intent": True, "entities": ["party_size", "date", "time", "name"], "tone": True},
        "source_labels": {},
        "extra": {"sentiment": m.sentiment, "frustrated": m.frustrated},
    }


def write(train_n: int = 4000, heldout_n: int = 600, seed: int = 20250101) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    for split, n, held in (("train", train_n, False), ("heldout", heldout_n, True)):
        with (DATA_DIR / f"domain_{split}.jsonl").open("w") as f:
            for i, m in enumerate(generate(n, held_out=held, seed=seed + (1 if held else 0))):
                f.write(json.dumps(to_row(i, m, split), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write()
