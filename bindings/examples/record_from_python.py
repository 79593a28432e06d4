"""The Python half of record_from_python.rs: times CALLS record_attempt calls through the
bindings on a provisioned store and prints the elapsed nanoseconds."""

import os
import sys
import time

sys.path.insert(0, os.environ["DOORSTEP_BINDINGS"])
from doorstep import AnswerValue, AttemptInput, Phone, SurveyAnswer  # noqa: E402

path, calls, turf, voters = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
phone = Phone.open(path)
started = time.perf_counter_ns()
for i in range(calls):
    phone.record_attempt(
        AttemptInput(
            turf=turf,
            outcome="talked",
            voter=voters[i % len(voters)],
            answers=[SurveyAnswer(question="support", value=AnswerValue.SUPPORT(level=1 + i % 5))],
        )
    )
print(time.perf_counter_ns() - started)
