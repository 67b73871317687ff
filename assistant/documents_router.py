"""Documents, admin only: upload (multipart), list, get, delete, re-index a folder.

The collection is the profile's (``?model=NAME``, default profile) or given
with ``?collection=NAME``. A change is visible to the next chat request.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, File, Request, UploadFile

from assistant.deps import Admin, Documents, collection_for
from assistant.protocol import Document, DocumentDeleted, DocumentList, IngestResult, ReindexRequest

router = APIRouter(prefix="/v1/documents", tags=["documents"])


@router.post("", response_model=Document, status_code=201)
async def upload(request: Request, who: Admin, docs: Documents, file: UploadFile = File(...),
                 model: str | None = None, collection: str | None = None) -> Document:
    name = collection_for(request, who, model, collection)
    info = await to_thread.run_sync(docs.upload, name, file.filename or "", file.file)
    return Document(**info)


@router.get("", response_model=DocumentList)
async def list_documents(request: Request, who: Admin, docs: Documents, model: str | None = None,
                         collection: str | None = None) -> DocumentList:
    name = collection_for(request, who, model, collection)
    return DocumentList(data=[Document(**d) for d in await to_thread.run_sync(docs.list, name)])


@router.post("/reindex", response_model=IngestResult)
async def reindex(body: ReindexRequest, request: Request, who: Admin, docs: Documents) -> IngestResult:
    name = collection_for(request, who, body.model, body.collection)
    summary = await to_thread.run_sync(docs.reindex, name, body.path, body.prune)
    return IngestResult(**summary)


@router.get("/{document_id:path}", response_model=Document)
async def get_document(document_id: str, request: Request, who: Admin, docs: Documents,
                       model: str | None = None, collection: str | None = None) -> Document:
    name = collection_for(request, who, model, collection)
    return Document(**await to_thread.run_sync(docs.get, name, document_id))


@router.delete("/{document_id:path}", response_model=DocumentDeleted)
async def delete_document(document_id: str, request: Request, who: Admin, docs: Documents,
                          model: str | None = None, collection: str | None = None) -> DocumentDeleted:
    name = collection_for(request, who, model, collection)
    await to_thread.run_sync(docs.delete, name, document_id)
    return DocumentDeleted(id=document_id)
