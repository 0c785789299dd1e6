"""The LLM service: questions about live streams and uploaded sequences, answered by MoChat.

    mochat serve llm --model DIR --port PORT --bootstrap-servers HOST:PORT --encoder HOST:PORT
    mochat ask --server HOST:PORT --stream ID "what did the player just do?"

Data flow: `mocap.features` (Kafka) -> `store.FeatureStore` (recent windows per stream) ->
questions through `queue.QuestionQueue` (priorities, deadlines, bounded) -> `engine.Engine`
(batched `MoChatPipeline.answer_batch` in a model thread) -> answers in the stream's absolute
frame numbers and capture times. Importing this package imports neither torch nor Kafka.
"""
