"""docagent's Streamlit app: upload, ask, see the evidence, extract to a table, compute over charts, see tables.

    docagent app                      # http://127.0.0.1:8501
    streamlit run app/main.py         # the same, by hand

One module per page (library, chat, extract, charts, tables, settings_page); ``ui`` holds what they share,
``access`` who may use the app. The app holds no business logic: every action is one docagent call, and
document names and model output are shown as text (markdown escaped), never as links or images.

Beyond loopback the app needs ``DOCAGENT_APP_PASSWORD`` (asked for before anything is shown) or
``--behind-auth-proxy``; the store is fixed by the command line, and beyond loopback so is the model.
"""
