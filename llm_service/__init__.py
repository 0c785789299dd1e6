"""The LLM service: questions about live streams and uploaded sequences, answered by MoChat.

    mochat serve llm --model DIR --port PORT --bootstrap-servers HOST:PORT --encoder HOST:PORT
    mochat ask --server HOST:PORT --stream ID "what did the player just do?"

Data flow: `mocap.features` (Kafka) -> `store.FeatureStore` (recent windows per stream) ->
questions through `queue.QuestionQueue` (priorities, deadlines, bounded) -> the model worker
in its own thread: `continuous.ContinuousEngine` (default; iteration-level batching, a
question joins the running decode at the next step, its motion prefix's KV cached per
window) or `engine.Engine` (MOCHAT_LLM_SCHEDULER=static: batched `answer_batch`) -> answers
in the stream's absolute frame numbers and capture times. Importing this package imports
neither torch nor Kafka.
"""
