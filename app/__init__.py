"""docagent's Streamlit app: upload, ask, see the evidence, extract to a table, compute over charts.

    docagent app                      # http://127.0.0.1:8501
    streamlit run app/main.py         # the same, by hand

One module per page (library, chat, extract, charts, settings_page); ``ui`` holds what they share.
The app holds no business logic: every action is one docagent call, and model output is shown as text.
"""
